package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestKeysPageShowsVersionsAndRotates(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	_, ab := s.admin("admin@plan.example")
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")
	staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"B"}})

	p := ab.get("/admin/keys")
	must(t, "keys page", p.Status == http.StatusOK)
	contains(t, "keys page", p.Body, "current", "Every data key is wrapped by the current version.")
	p = ab.post("/admin/keys/rotate", url.Values{"reason": {""}})
	must(t, "rotation needs a reason", p.Status == http.StatusUnprocessableEntity)
	must(t, "confirmation step", ab.get("/admin/keys/rotate").Status == http.StatusOK)
	p = ab.post("/admin/keys/rotate", url.Values{"reason": {"Annual rotation"}})
	must(t, "rotated", p.Status == http.StatusSeeOther && strings.Contains(p.Location, "Version+2"))
	p = ab.get("/admin/keys")
	contains(t, "after rotation", p.Body, "still wrapped by older versions", "decrypt-only")

	staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"After"}, "body": {"rotation"}})
	var onNew int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE kek_version = 2`).Scan(&onNew)
	must(t, "new data keys wrapped by the new version", onNew == 2)
	var audited int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'admin.keys_rotated' AND detail->>'reason' = 'Annual rotation'`).Scan(&audited)
	must(t, "rotation audited", audited == 1)
}
