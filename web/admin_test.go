package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

func (s *site) admin(email string) (accounts.User, *browser) {
	s.t.Helper()
	u, err := s.app.Accounts.CreateUser(context.Background(), email, "Ada Admin", accounts.RoleAdmin, goodPassword, 0, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return u, s.signedIn(email)
}

func (s *site) provider(email string) accounts.User {
	s.t.Helper()
	u, err := s.app.Accounts.CreateUser(context.Background(), email, "Dr. "+email, accounts.RoleProvider, goodPassword, 0, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// act confirms an admin action the way the console does: confirmation page,
// then the POST with a reason.
func (b *browser) act(userID int64, action, reason string) page {
	b.t.Helper()
	confirm := b.get(fmt.Sprintf("/admin/users/%d/confirm?action=%s", userID, action))
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, `name="reason"`) {
		b.t.Fatalf("confirmation page for %s: %d", action, confirm.Status)
	}
	return b.post(fmt.Sprintf("/admin/users/%d/actions", userID), url.Values{"action": {action}, "reason": {reason}})
}

func TestEveryAdminRouteIsNotFoundForProvidersAndStaff(t *testing.T) {
	s := newSite(t, nil)
	s.provider("dr@clinic.example")
	s.staffIn("rep@plan.example", "Rep", "LA")
	browsers := map[string]*browser{"provider": s.signedIn("dr@clinic.example"), "staff": s.signedIn("rep@plan.example")}
	routes := walkAdminRoutes(t, s, func(method, path string) {
		for who, b := range browsers {
			p := b.do(method, path, url.Values{"reason": {"x"}, "action": {"disable"}}, nil)
			if p.Status != http.StatusNotFound {
				t.Errorf("%s %s as %s: %d, want 404", method, path, who, p.Status)
			}
		}
	})
	must(t, fmt.Sprintf("walked the admin routes (%d)", routes), routes >= 15)
}

// walkAdminRoutes calls visit for every /admin route in the route table,
// with "1" for an {id}, and returns how many there were.
func walkAdminRoutes(t *testing.T, s *site, visit func(method, path string)) int {
	t.Helper()
	routes := 0
	err := chi.Walk(s.app.Web.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/admin") {
			routes++
			visit(method, strings.NewReplacer("{id}", "1", "/*", "/").Replace(route))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

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
	if p := b.login(email, pw); p.Status != http.StatusSeeOther {
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
	must(t, "own role change refused", p.Status == http.StatusConflict)
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

func TestAdminCreatesStaffAndManagesTeams(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	p := ab.post("/admin/teams", url.Values{"name": {"Provider Services – San Diego County"}, "line_of_business": {"Cal MediConnect"}})
	must(t, "team created", p.Status == http.StatusSeeOther)
	p = ab.post("/admin/teams", url.Values{"name": {"Provider Services – San Diego County"}})
	must(t, "duplicate team refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "exists"))
	var teamID int64
	s.app.Pool.QueryRow(context.Background(), `SELECT id FROM teams`).Scan(&teamID)

	p = ab.post("/admin/staff", url.Values{"email": {"New.Rep@plan.example"}, "name": {"Nia Rep"}, "role": {"staff"}, "team": {fmt.Sprint(teamID)}})
	must(t, fmt.Sprintf("staff created: %d", p.Status), p.Status == http.StatusSeeOther)
	_, link := s.mailTo("new.rep@plan.example", "registration", "/register/")
	must(t, "registration link for the new representative", link != "")
	p = ab.get("/admin/teams")
	contains(t, "teams page", p.Body, "Nia Rep", "new.rep@plan.example")
	p = ab.post("/admin/staff", url.Values{"email": {"x@plan.example"}, "role": {"provider"}})
	must(t, "forged role for staff form: 400", p.Status == http.StatusBadRequest)

	p = ab.post(fmt.Sprintf("/admin/teams/%d/members", teamID), url.Values{"email": {"nobody@plan.example"}})
	must(t, "unknown member refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "not a representative"))
	p = ab.post(fmt.Sprintf("/admin/teams/%d/members/remove", teamID), url.Values{"email": {"new.rep@plan.example"}})
	must(t, "member removed", p.Status == http.StatusSeeOther && !strings.Contains(ab.get("/admin/teams").Body, "Nia Rep"))
}

func TestAuditViewerFiltersAndExportsCSV(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	s.provider("dr@clinic.example")
	b := s.browser()
	b.login("dr@clinic.example", "wrong password entirely")
	b.login("dr@clinic.example", goodPassword)

	p := ab.get("/admin/audit?" + url.Values{"subject": {"dr@clinic.example"}, "action": {"login."}}.Encode())
	must(t, "audit viewer", p.Status == http.StatusOK)
	contains(t, "filtered audit", p.Body, "login.failed", "login.succeeded", "dr@clinic.example")
	must(t, "filter excludes other actions", !strings.Contains(p.Body, "user.created"))

	p = ab.get("/admin/audit.csv?" + url.Values{"subject": {"dr@clinic.example"}}.Encode())
	must(t, "csv download", p.Status == http.StatusOK && strings.HasPrefix(p.Header.Get("Content-Type"), "text/csv") &&
		strings.Contains(p.Header.Get("Content-Disposition"), "attachment"))
	lines := strings.Split(strings.TrimSpace(p.Body), "\n")
	must(t, "csv header and rows", strings.HasPrefix(lines[0], "id,at_utc,actor_id") && len(lines) >= 4)
	var exported int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'admin.audit_exported' AND detail->>'subject' = 'dr@clinic.example'`).Scan(&exported)
	must(t, "the export itself is audited", exported == 1)
	today := time.Now().Format("2006-01-02")
	p = ab.get("/admin/audit?from=" + today + "&to=" + today)
	contains(t, "date range", p.Body, "login.failed")
	p = ab.get("/admin/audit?from=yesterday")
	must(t, "bad date: 422 with a message", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Dates look like"))
}

func TestAdminPagesAskForThePasswordAfterIdle(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_ADMIN_REAUTH": "1s"})
	_, ab := s.admin("admin@plan.example")
	must(t, "fresh sign-in reaches the console", ab.get("/admin/users").Status == http.StatusOK)
	time.Sleep(1200 * time.Millisecond)
	// Every admin page and action, not only the one tried first.
	walkAdminRoutes(t, s, func(method, path string) {
		if strings.HasPrefix(path, "/admin/reauth") {
			return
		}
		p := ab.do(method, path, url.Values{"reason": {"x"}, "action": {"unlock"}}, nil)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/admin/reauth") {
			t.Errorf("%s %s by an idle admin: %d to %q, want 303 to /admin/reauth", method, path, p.Status, p.Location)
		}
	})
	p := ab.get("/admin/users")
	must(t, "idle admin asked to re-authenticate: "+p.Location, p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/admin/reauth"))
	p = ab.post("/admin/reauth", url.Values{"password": {"not my password"}, "next": {"/admin/users"}})
	must(t, "wrong password refused", p.Status == http.StatusUnauthorized)
	p = ab.post("/admin/reauth", url.Values{"password": {goodPassword}, "next": {"/admin/users"}})
	must(t, "right password returns to the page", p.Status == http.StatusSeeOther && p.Location == "/admin/users")
	must(t, "console usable again", ab.get("/admin/users").Status == http.StatusOK)
}

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

// "=1+2@clinic.example" is a valid email address; in a spreadsheet, a cell
// that starts with "=" is a formula. The security officer opening the audit
// export must see the text, not run it.
func TestAuditExportDefusesSpreadsheetFormulas(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	const formula = "=1+2@clinic.example"
	if _, err := s.app.Accounts.CreateUser(context.Background(), formula, "Formula", accounts.RoleProvider, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	s.browser().login(formula, "wrong password entirely")
	p := ab.get("/admin/audit.csv?" + url.Values{"subject": {formula}}.Encode())
	must(t, "csv download", p.Status == http.StatusOK)
	rows, err := csv.NewReader(strings.NewReader(p.Body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var cells int
	for _, row := range rows {
		for _, cell := range row {
			if strings.HasPrefix(cell, "=") || strings.HasPrefix(cell, "+") || strings.HasPrefix(cell, "-") || strings.HasPrefix(cell, "@") {
				t.Errorf("cell %q would run as a spreadsheet formula", cell)
			}
			if cell == "'"+formula {
				cells++
			}
		}
	}
	must(t, "the address is exported as text", cells > 0)
}
