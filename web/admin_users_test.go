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
)

func TestAdminAccountActionsTakeEffectAndEndSessions(t *testing.T) {
	s := newSite(t, nil)
	admin, ab := s.admin("admin@plan.example")
	prov := s.provider("dr@clinic.example")
	pb := s.signedIn("dr@clinic.example")

	// A reason is required; nothing changes without one.
	p := ab.act(prov.ID, "disable", "  ")
	must(t, "missing reason: 422", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Say why"))
	must(t, "still signed in", pb.get("/inbox").Status == http.StatusOK)

	p = ab.act(prov.ID, "disable", "Practice closed, confirmed by phone")
	must(t, "disable redirects with notice", p.Status == http.StatusSeeOther && strings.Contains(p.Location, "notice="))
	p = pb.get("/inbox")
	must(t, "disabled provider's session ended: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=changed"))
	must(t, "disabled provider cannot sign in", pb.login("dr@clinic.example", goodPassword).Status == http.StatusUnauthorized)

	// A double submit changes nothing and says so.
	p = ab.post(fmt.Sprintf("/admin/users/%d/actions", prov.ID), url.Values{"action": {"disable"}, "reason": {"again"}})
	must(t, "double submit: 409", p.Status == http.StatusConflict && strings.Contains(p.Body, "Nothing was changed"))

	ab.act(prov.ID, "enable", "Reopened")
	pb = s.signedIn("dr@clinic.example")

	p = ab.act(prov.ID, "force_reregister", "Provider lost access; identity verified by callback")
	must(t, "force re-registration", p.Status == http.StatusSeeOther)
	must(t, "session ended by force re-registration", pb.get("/inbox").Status == http.StatusSeeOther)
	_, link := s.mailTo("dr@clinic.example", "registration", "/register/")
	p = s.browser().register(link, "Dr. Back", "violet harbour lanterns sway gently")
	must(t, "re-registered with the new link", p.Status == http.StatusSeeOther)

	pb = s.signedIn2(t, "dr@clinic.example", "violet harbour lanterns sway gently")
	p = ab.act(prov.ID, "end_sessions", "Lost laptop reported")
	must(t, "end sessions", p.Status == http.StatusSeeOther && pb.get("/inbox").Status == http.StatusSeeOther)

	p = ab.act(prov.ID, "reset_link", "Forgot password, called in")
	must(t, "reset link action", p.Status == http.StatusSeeOther)
	s.mailTo("dr@clinic.example", "Reset your", "/reset-password/")

	// Lockout, then unlock.
	b := s.browser()
	for range 10 {
		b.login("dr@clinic.example", "wrong password entirely")
	}
	must(t, "locked out", b.login("dr@clinic.example", "violet harbour lanterns sway gently").Status == http.StatusUnauthorized)
	ab.act(prov.ID, "unlock", "Verified identity")
	must(t, "unlocked", b.login("dr@clinic.example", "violet harbour lanterns sway gently").Status == http.StatusSeeOther)

	var n int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE actor_id = $1 AND action LIKE 'admin.%' AND detail->>'reason' <> ''`, admin.ID).Scan(&n)
	must(t, fmt.Sprintf("every admin action audited with its reason (%d)", n), n == 6)
}

func (s *site) signedIn2(t *testing.T, email, pw string) *browser {
	b := s.browser()
	if p := b.signInFully(email, pw); p.Status != http.StatusSeeOther && p.Status != http.StatusOK {
		t.Fatalf("sign-in %s: %d", email, p.Status)
	}
	return b
}

func TestAdminCannotDisableThemselvesOrTheLastAdmin(t *testing.T) {
	s := newSite(t, nil)
	admin, ab := s.admin("admin@plan.example")
	p := ab.post(fmt.Sprintf("/admin/users/%d/actions", admin.ID), url.Values{"action": {"disable"}, "reason": {"test"}})
	must(t, "self-disable refused", p.Status == http.StatusConflict && strings.Contains(p.Body, "own account"))
	second, _ := s.app.Accounts.CreateUser(context.Background(), "admin2@plan.example", "Bo", accounts.RoleAdmin, goodPassword, 0, "")
	must(t, "disable another admin", ab.act(second.ID, "disable", "left the company").Status == http.StatusSeeOther)
	p = ab.post(fmt.Sprintf("/admin/users/%d/role", admin.ID), url.Values{"role": {"staff"}, "reason": {"x"}})
	must(t, "own role change refused", p.Status == http.StatusConflict && strings.Contains(p.Body, "Nothing was changed: admins cannot do that to their own account."))
	// The remaining admin is the last: not even an admin whose page was
	// loaded before being disabled (a stale actor) may remove them.
	ctx := context.Background()
	_, err := s.app.Accounts.Administer(ctx, second, admin.ID, accounts.ActionDisable, "stale page", "")
	must(t, fmt.Sprintf("disabling the last admin: %v", err), errors.Is(err, accounts.ErrLastAdmin))
	_, err = s.app.Accounts.Administer(ctx, second, admin.ID, accounts.ActionForceReregister, "stale page", "")
	must(t, fmt.Sprintf("forcing the last admin to re-register: %v", err), errors.Is(err, accounts.ErrLastAdmin))
	_, err = s.app.Accounts.ChangeRole(ctx, second, admin.ID, accounts.RoleStaff, "stale page", "")
	must(t, fmt.Sprintf("demoting the last admin: %v", err), errors.Is(err, accounts.ErrLastAdmin))
	p = ab.post(fmt.Sprintf("/admin/users/%d/actions", 999999), url.Values{"action": {"disable"}, "reason": {"x"}})
	must(t, "missing user: 404", p.Status == http.StatusNotFound)
	p = ab.post(fmt.Sprintf("/admin/users/%d/actions", second.ID), url.Values{"action": {"make_superuser"}, "reason": {"x"}})
	must(t, "forged action: 400", p.Status == http.StatusBadRequest)
}

// Two admins disabling each other at the same moment: the check runs inside
// the transaction with the admins' rows locked, so exactly one succeeds.
func TestTwoAdminsCannotDisableEachOtherAtOnce(t *testing.T) {
	for round := range 3 {
		s := newSite(t, nil)
		ctx := context.Background()
		a, _ := s.app.Accounts.CreateUser(ctx, "a@plan.example", "A", accounts.RoleAdmin, goodPassword, 0, "")
		b, _ := s.app.Accounts.CreateUser(ctx, "b@plan.example", "B", accounts.RoleAdmin, goodPassword, 0, "")
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, pair := range [][2]accounts.User{{a, b}, {b, a}} {
			go func() {
				<-start
				_, err := s.app.Accounts.Administer(ctx, pair[0], pair[1].ID, accounts.ActionDisable, "race", "")
				errs <- err
			}()
		}
		close(start)
		e1, e2 := <-errs, <-errs
		var active int
		s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'`).Scan(&active)
		must(t, fmt.Sprintf("round %d: one active admin left (%d), errors %v / %v", round, active, e1, e2),
			active == 1 && (e1 == nil) != (e2 == nil) && (errors.Is(e1, accounts.ErrLastAdmin) || errors.Is(e2, accounts.ErrLastAdmin)))
	}
}

func TestRoleChangeEndsSessionsAndRefusesForgedValues(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	rep, _ := s.staffIn("rep@plan.example", "Rep", "LA")
	rb := s.signedIn("rep@plan.example")
	p := ab.post(fmt.Sprintf("/admin/users/%d/role", rep.ID), url.Values{"role": {"root"}, "reason": {"x"}})
	must(t, "forged role: 400", p.Status == http.StatusBadRequest)
	p = ab.post(fmt.Sprintf("/admin/users/%d/role", rep.ID), url.Values{"role": {"admin"}, "reason": {"Promoted to supervisor"}})
	must(t, "role changed", p.Status == http.StatusSeeOther)
	must(t, "privilege change ended the old session", rb.get("/staff").Status == http.StatusSeeOther)
	rb = s.signedIn("rep@plan.example")
	must(t, "new role after signing in again", rb.get("/admin/users").Status == http.StatusOK)
}
