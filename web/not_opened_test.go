package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// The staff list flags a message that has waited in the portal, unopened
// by the provider, longer than PORTAL_NOT_OPENED_AFTER; opening it clears
// the flag.
func TestStaffListFlagsMessagesTheProviderHasNotOpened(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_NOT_OPENED_AFTER": "72h"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Prior authorization"}, "body": {"Please review."}})
	tid := threadID(t, p.Location)
	must(t, "a fresh message is not flagged", !strings.Contains(staff.get("/staff").Body, "not-opened-tag"))

	s.app.Pool.Exec(context.Background(), `UPDATE messages SET created_at = now() - interval '4 days' WHERE thread_id = $1`, tid)
	contains(t, "flagged after 72 hours", staff.get("/staff").Body, `data-testid="not-opened-tag"`, "Not opened by the provider for over 72 hours")
	prov := s.signedIn("dr@clinic.example")
	must(t, "never shown to the provider", !strings.Contains(prov.get("/inbox").Body, "not-opened-tag"))
	prov.get("/threads/" + tid)
	must(t, "opened: no flag", !strings.Contains(staff.get("/staff").Body, "not-opened-tag"))
}
