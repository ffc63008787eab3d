package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

func TestEmergencyAccessIsReadOnlyAuditedAndExpires(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	admin, ab := s.admin("admin@plan.example")
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Urgent " + markSubject}, "body": {"Chart " + markBody}},
		file{"chart.pdf", []byte("%PDF chart")})
	tid := threadID(t, p.Location)

	must(t, "no access without a grant", ab.get("/admin/emergency/threads/"+tid).Status == http.StatusNotFound)
	p = ab.post("/admin/emergency", url.Values{"thread": {tid}, "reason": {""}, "duration": {"1h0m0s"}})
	must(t, "reason required", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Say why"))
	p = ab.post("/admin/emergency", url.Values{"thread": {tid}, "reason": {"Member in ER"}, "duration": {"72h0m0s"}})
	must(t, "only listed durations", p.Status == http.StatusUnprocessableEntity)
	p = ab.post("/admin/emergency", url.Values{"thread": {tid}, "reason": {"Member in ER, physician unreachable"}, "duration": {"1h0m0s"}})
	must(t, "grant redirects to the thread", p.Status == http.StatusSeeOther && p.Location == "/admin/emergency/threads/"+tid)

	p = ab.get(p.Location)
	contains(t, "emergency reading", p.Body, markSubject, markBody, "Emergency access: read-only")
	must(t, "no reply form or recall", !strings.Contains(p.Body, "Send reply") && !strings.Contains(p.Body, "Withdraw this message"))
	d := ab.get(attachmentLinks(p.Body)["chart.pdf"])
	must(t, "admin downloads under the grant", d.Status == http.StatusOK && d.Body == "%PDF chart")
	must(t, "admin cannot reply", ab.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"x"}}).Status == http.StatusNotFound)
	// Read-only below the routes too: the store refuses writes under a grant.
	emergency := messaging.Viewer{UserID: admin.ID, Emergency: true}
	err := s.app.Messages.Reply(ctx, emergency, tid, "reply under emergency access", nil)
	must(t, fmt.Sprintf("store refuses a reply under a grant: %v", err), errors.Is(err, messaging.ErrNotFound))

	var reads int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM message_reads WHERE user_id = $1`, admin.ID).Scan(&reads)
	must(t, "no read receipt from the admin", reads == 0)
	p = ab.get("/admin/audit?action=admin.emergency_access")
	contains(t, "highlighted in the audit log", p.Body, `class="highlight"`, "Emergency access", "Member in ER")
	p = ab.get("/admin/emergency")
	contains(t, "security officer's list", p.Body, "admin@plan.example", tid, "Member in ER, physician unreachable", "active")

	// The grant expires by itself.
	s.app.Pool.Exec(ctx, `UPDATE emergency_access SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 minute'`)
	must(t, "expired grant: 404", ab.get("/admin/emergency/threads/"+tid).Status == http.StatusNotFound)
	contains(t, "listed as expired", ab.get("/admin/emergency").Body, "expired")
	if _, err := s.app.Accounts.CreateUser(ctx, "admin2@plan.example", "Bo", accounts.RoleAdmin, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	must(t, "another admin has no access", s.signedIn("admin2@plan.example").get("/admin/emergency/threads/"+tid).Status == http.StatusNotFound)
}
