package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
)

func TestThreadsAreTakenHandedOverAndLeftToTheTeam(t *testing.T) {
	s := newSite(t, nil)
	lena, _ := s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("mate.la@plan.example", "Marco", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep.la@plan.example")
	mate := s.signedIn("mate.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Referral"}, "body": {"Please confirm."}})
	tid := threadID(t, p.Location)
	owner := func(b *browser) string {
		t.Helper()
		_, rest, _ := strings.Cut(b.get("/staff/threads/"+tid).Body, `data-testid="owner-now">`)
		now, _, _ := strings.Cut(rest, "<")
		return now
	}
	must(t, "the sender owns it: "+owner(staff), owner(staff) == "You" && owner(mate) == "Lena")
	contains(t, "Mine", staff.get("/staff?filter=mine").Body, "Referral")

	assign := func(b *browser, who string) page {
		return b.post("/staff/threads/"+tid+"/assign", url.Values{"assignee": {who}})
	}
	p = assign(staff, "rep.sd@plan.example")
	must(t, "not to another team", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "not in this conversation&#39;s team"))
	p = assign(staff, "dr@clinic.example")
	must(t, "not to a provider", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "not an active representative"))

	must(t, "left to the team", assign(staff, "").Status == http.StatusSeeOther)
	must(t, "nobody's now: "+owner(mate), strings.HasPrefix(owner(mate), "Nobody yet (LA team)"))
	contains(t, "Team unassigned", mate.get("/staff?filter=unassigned").Body, "Referral")
	must(t, "a teammate takes it", assign(mate, "mate.la@plan.example").Status == http.StatusSeeOther)
	must(t, "theirs now", owner(mate) == "You" && owner(staff) == "Marco")
	must(t, "not under Lena's Mine", !strings.Contains(staff.get("/staff?filter=mine").Body, "Referral"))
	must(t, "and handed back", assign(mate, "REP.LA@plan.example").Status == http.StatusSeeOther && owner(staff) == "You")
	must(t, "each change audited", s.audited("thread.assigned", "{}") == 3)
	history := staff.get("/staff/threads/" + tid).Body
	contains(t, "the thread's history", history, `data-testid="thread-history"`, "Lena left it to the team", "Marco took it", "Marco handed it to Lena")
	must(t, "in order", strings.Index(history, "Lena left it") < strings.Index(history, "Marco took it") &&
		strings.Index(history, "Marco took it") < strings.Index(history, "Marco handed it"))
	must(t, "another team's representative cannot", assign(s.signedIn("rep.sd@plan.example"), "").Status == http.StatusNotFound)

	// The owner can no longer sign in: the provider's message tells the team.
	ctx := context.Background()
	admin, _ := s.admin("admin@plan.example")
	if _, err := s.app.Accounts.Administer(ctx, admin, lena.ID, accounts.ActionDisable, "left", ""); err != nil {
		t.Fatal(err)
	}
	prov := s.signedIn("dr@clinic.example")
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Confirmed."}})
	s.mailTo("mate.la@plan.example", "[SECURE]", "")
}
