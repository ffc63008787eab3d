package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// A sentinel stands beside the field it belongs to, however deeply the
// domain wrapped it, and only on a form that has that field.
func TestSentinelsBecomeWordsBesideTheirField(t *testing.T) {
	wrapped := fmt.Errorf("postgres: create user: %w", accounts.ErrEmailTaken)
	if fe, ok := fieldErrors(wrapped, "email", "name"); !ok || fe["email"] != "An account with this email already exists." {
		t.Errorf("email taken: %v %v", fe, ok)
	}
	if fe, ok := fieldErrors(messaging.ErrNotFound, "thread", "reason"); !ok || fe["thread"] == "" {
		t.Errorf("no such thread on the emergency form: %v %v", fe, ok)
	}
	if _, ok := fieldErrors(messaging.ErrNotFound, "to", "subject", "body"); ok {
		t.Error("a missing thread on a form without a thread field must stay a 404, not a field error")
	}
	own := accounts.FieldErrors{"reason": "Say why (for the audit log)."}
	if fe, ok := fieldErrors(fmt.Errorf("accounts: %w", own)); !ok || fe["reason"] != own["reason"] {
		t.Errorf("the domain's own field errors pass through: %v %v", fe, ok)
	}
	if _, ok := fieldErrors(nil, "email"); ok {
		t.Error("no error, no field errors")
	}
}

func TestEveryRefusalSaysNothingChangedAndWhy(t *testing.T) {
	for _, p := range refusalText {
		got, ok := refusal(fmt.Errorf("store: %w", p.err), "Disable")
		if !ok || !strings.HasPrefix(got, "Nothing was changed: ") || strings.Contains(got, "{") {
			t.Errorf("%v: %q", p.err, got)
		}
	}
	if got, _ := refusal(accounts.ErrActionNotApplicable, "Disable"); !strings.Contains(got, "“Disable” does not apply") {
		t.Errorf("the refusal names the action: %q", got)
	}
	if _, ok := refusal(messaging.ErrTooLarge, ""); ok {
		t.Error("not an admin refusal")
	}
}

func TestEveryProblemPageHasStatusTitleAndWords(t *testing.T) {
	for _, table := range [][]problem{sendProblems, downloadProblems} {
		for _, p := range table {
			if p.status < 400 || p.title == "" || p.text == "" {
				t.Errorf("%v: %+v", p.err, p)
			}
		}
	}
	for _, p := range fieldText {
		if p.field == "" || p.text == "" {
			t.Errorf("%v: %+v", p.err, p)
		}
	}
}
