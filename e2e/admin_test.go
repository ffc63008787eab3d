package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/healthnet/secureportal/internal/accounts"
)

// createAdmin adds an active admin.
func (s *site) createAdmin(email, name string) accounts.User {
	s.t.Helper()
	u, err := s.App.Accounts.CreateUser(context.Background(), email, name, accounts.RoleAdmin, goodPassword, 0, "")
	if err != nil {
		s.t.Fatalf("create admin %s: %v", email, err)
	}
	return u
}

// typeIntoID is typeInto for the inputs of the console's search and filter
// forms, whose ids are not field-<name> (#q, #filter-subject).
func (tb *tab) typeIntoID(id, text string) {
	tb.t.Helper()
	tb.do("click into #"+id, chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
	if v, _ := chromedp.Run(tb.ctx, chromedp.Value(chromedp.ID(id))); v != "" {
		tb.do("empty #"+id, chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Backspace))
	}
	tb.do("type into #"+id, chromedp.SendKeys(chromedp.ID(id), text))
}

// signInAs signs in from the sign-in page with goodPassword and waits for
// the page the role lands on.
func (tb *tab) signInAs(email, name string, landing chromedp.CSS) {
	tb.t.Helper()
	tb.navigate("/login")
	tb.waitFor(testid("login-page"))
	tb.checkPage("sign-in")
	tb.typeInto("email", email)
	tb.typeInto("password", goodPassword)
	tb.click(button("Sign in"))
	tb.secondStep(email)
	tb.expectSignedInAt(landing, name)
}

// expectNotice checks the page's notice.
func (tb *tab) expectNotice(want string) {
	tb.t.Helper()
	tb.waitFor(testid("notice"))
	if got := tb.text(testid("notice")); got != want {
		tb.t.Errorf("notice on %s = %q, want %q", tb.path(), got, want)
	}
}

// confirmAction follows an action's link on the admin's user page, states
// the reason on the confirmation page and confirms; it returns on the user
// page, which must say the action was done.
func (tb *tab) confirmAction(label, reason string) {
	tb.t.Helper()
	tb.click(link(label))
	tb.waitFor(testid("admin-confirm-page"))
	if got := tb.text(chromedp.CSS("h1")); got != label+"?" {
		tb.t.Errorf("confirmation page heading = %q, want %q", got, label+"?")
	}
	tb.checkPage("admin-confirm-" + label)
	tb.typeInto("reason", reason)
	tb.click(button("Confirm"))
	tb.waitFor(testid("admin-user-page"))
	tb.expectNotice("Done: " + label + ".")
}

// Journey 7 (issue 7): a provider mistypes the password until sign-in is
// paused; an admin finds the account, unlocks it (saying why), and the
// provider gets in. Then the admin forces re-registration: the provider's
// open session ends at once, the registration email arrives, and the
// provider registers from it and is signed in.
func TestJourney7AdminUnlocksAndForcesReregistration(t *testing.T) {
	j := startJourney(t, "J7 admin unlocks and forces re-registration", map[string]string{"PORTAL_LOCKOUT_THRESHOLD": "3"})
	adminEmail, email := "ada.admin@healthnet.example", "dr.nguyen@bayviewclinic.example"
	j.site.createAdmin(adminEmail, "Ada Admin")
	j.site.createProvider(email, "Dr. Linh Nguyen", goodPassword)

	// The provider, in their own browser, gets the password wrong three times.
	p := newTab(t, j.site.URL, "J7 provider")
	p.navigate("/login")
	p.waitFor(testid("login-page"))
	p.checkPage("sign-in")
	for _, guess := range []string{"copper kettle whistles at dusk", "copper kettles whistle at dawn", "Copper kettle whistles at dawn"} {
		p.typeInto("email", email)
		p.typeInto("password", guess)
		p.click(button("Sign in"))
		p.waitFor(testid("login-failure"))
	}
	p.checkPage("sign-in-failed")
	// Sign-in is now paused: even the right password is refused.
	p.typeInto("email", email)
	p.typeInto("password", goodPassword)
	p.click(button("Sign in"))
	p.waitFor(testid("login-failure"))
	if got := p.path(); !strings.HasPrefix(got, "/login") {
		t.Fatalf("a locked provider signed in with the right password: the browser is at %s", got)
	}

	// The admin, in their own browser, finds the account.
	j.signInAs(adminEmail, "Ada Admin", testid("admin-users-page"))
	j.checkPage("admin-users")
	j.typeIntoID("q", email)
	j.click(button("Search"))
	j.waitFor(testid("admin-users-page"))
	if got := j.texts(`[data-testid="user-row"] td:first-child`); !slices.Equal(got, []string{email}) {
		t.Fatalf("searching for %s lists %q", email, got)
	}
	j.checkPage("admin-users-search")
	j.click(link(email))
	j.waitFor(testid("admin-user-page"))
	details := j.text(chromedp.CSS(".details"))
	if !strings.Contains(details, "Locked after failed sign-ins until") {
		t.Errorf("user page of the locked provider does not show the lock: %q", details)
	}
	j.checkPage("admin-user-locked")

	j.confirmAction("Unlock", "Provider called Provider Services; identity checked by callback.")
	if got := j.text(chromedp.CSS(".details")); strings.Contains(got, "Locked after") {
		t.Errorf("after unlocking, the user page still shows a lock: %q", got)
	}
	if n := j.count(`.action-list a`); n == 0 || slices.Contains(j.texts(`.action-list a`), "Unlock") {
		t.Errorf("after unlocking, the actions offered are %q", j.texts(`.action-list a`))
	}
	j.checkPage("admin-user-unlocked")

	// The provider gets in.
	p.typeInto("email", email)
	p.typeInto("password", goodPassword)
	p.click(button("Sign in"))
	p.expectSignedInAt(testid("inbox-page"), "Dr. Linh Nguyen")
	p.checkPage("inbox")

	// The admin forces re-registration, first forgetting the reason.
	j.click(link("Force re-registration"))
	j.waitFor(testid("admin-confirm-page"))
	j.checkPage("admin-confirm-force-re-registration")
	j.click(button("Confirm"))
	j.waitFor(testid("error-summary"))
	j.expectErrorSummary("reason")
	j.checkPage("admin-confirm-no-reason")
	j.typeInto("reason", "Provider reports a shared password; new registration by email.")
	j.click(button("Confirm"))
	j.waitFor(testid("admin-user-page"))
	j.expectNotice("Done: Force re-registration.")
	if got := j.text(testid("user-status")); got != string(accounts.StatusPending) {
		t.Errorf("status after forcing re-registration = %q, want pending", got)
	}
	j.checkPage("admin-user-reregistration")

	// The provider's open session has ended: their next page is sign-in,
	// saying why.
	p.click(link("Your account"))
	p.waitFor(testid("login-page"))
	if got := p.path(); !strings.Contains(got, "reason=changed") {
		t.Errorf("after the forced re-registration the provider is at %s, want /login?reason=changed…", got)
	}
	if got := p.text(testid("notice")); !strings.Contains(got, "your account changed") {
		t.Errorf("sign-in notice after the forced re-registration = %q", got)
	}
	p.checkPage("signed-out-account-changed")

	p.navigate(j.site.mailLink(email, "registration", "/register/"))
	p.waitFor(testid("register-page"))
	p.checkPage("register-again")
	p.typeInto("name", "Dr. Linh Nguyen")
	p.typeInto("password", otherPassword)
	p.typeInto("password_confirm", otherPassword)
	p.click(button("Register and open my messages"))
	p.expectSignedInAt(testid("inbox-page"), "Dr. Linh Nguyen")
	p.checkPage("inbox-after-registering-again")

	// The admin sees the account active again.
	j.andWaitForPage("reload the user page", chromedp.Reload())
	j.waitFor(testid("admin-user-page"))
	if got := j.text(testid("user-status")); got != string(accounts.StatusActive) {
		t.Errorf("status after the provider registered again = %q, want active", got)
	}
}

// The admin console, page by page, as an admin walks it: the user list
// (filtered by role with the keyboard), a user's page, teams, the form for a
// new representative, the audit log filtered by the user it is about,
// emergency access and the encryption keys. Every page passes checkPage; the
// wide ones (tables) must also fit a phone.
func TestAdminPagesWalk(t *testing.T) {
	j := startJourney(t, "admin pages walk", nil)
	adminEmail, email := "ada.admin@healthnet.example", "office@northsidefamily.example"
	j.site.createAdmin(adminEmail, "Ada Admin")
	j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	j.site.createProvider(email, "Northside Family Medicine", goodPassword)
	// Something for the audit log to say about the provider.
	if _, err := j.site.App.Accounts.Login(context.Background(), email, "not the password at all", "192.0.2.7"); err == nil {
		t.Fatal("a wrong password signed in")
	}

	j.signInAs(adminEmail, "Ada Admin", testid("admin-users-page"))
	if n := j.count(`[data-testid="user-row"]`); n != 3 {
		t.Errorf("user list shows %d accounts, want 3", n)
	}
	j.checkPage("admin-users")
	j.expectFitsPhone("admin-users")

	// Providers only: click the Role label and step down to Provider.
	j.do("click the Role label", chromedp.Click(chromedp.CSS(`label[for="role"]`), chromedp.NodeVisible))
	for range 4 {
		if v, _ := chromedp.Run(j.ctx, chromedp.Value(chromedp.ID("role"))); v == "provider" {
			break
		}
		j.press(kb.ArrowDown)
	}
	j.click(button("Search"))
	j.waitFor(testid("admin-users-page"))
	if got := j.texts(`[data-testid="user-row"] td:first-child`); !slices.Equal(got, []string{email}) {
		t.Errorf("providers only lists %q, want %q", got, email)
	}
	j.checkPage("admin-users-providers")

	j.click(link(email))
	j.waitFor(testid("admin-user-page"))
	if got := j.text(testid("user-status")); got != "active" {
		t.Errorf("user page status = %q, want active", got)
	}
	j.checkPage("admin-user")
	j.expectFitsPhone("admin-user")

	j.click(link("Teams"))
	j.waitFor(testid("admin-teams-page"))
	if got := j.text(chromedp.CSS(".team")); !strings.Contains(got, teamLA) || !strings.Contains(got, "lena.ortiz@healthnet.example") {
		t.Errorf("teams page shows %q, want %s with Lena Ortiz", got, teamLA)
	}
	j.checkPage("admin-teams")
	j.expectFitsPhone("admin-teams")

	j.click(link("Saved replies of " + teamLA))
	j.waitFor(testid("replies-page"))
	j.checkPage("admin-team-replies")
	j.expectFitsPhone("admin-team-replies")
	j.click(link("Teams"))
	j.waitFor(testid("admin-teams-page"))

	j.click(link("Users"))
	j.waitFor(testid("admin-users-page"))
	j.click(link("Add a representative or admin"))
	j.waitFor(testid("admin-staff-page"))
	j.checkPage("admin-staff-new")

	j.click(link("Audit log"))
	j.waitFor(testid("admin-audit-page"))
	j.checkPage("admin-audit")
	j.typeIntoID("filter-subject", email)
	j.click(button("Filter"))
	j.waitFor(testid("admin-audit-page"))
	if got := j.path(); !strings.Contains(got, "subject=") {
		t.Errorf("after filtering the browser is at %s", got)
	}
	rows := j.texts(`[data-testid="audit-row"]`)
	if len(rows) == 0 {
		t.Errorf("the audit log has no event about %s", email)
	}
	for _, r := range rows {
		if !strings.Contains(r, email) {
			t.Errorf("filtered audit log shows an event not about %s: %q", email, r)
		}
	}
	if !slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "login.failed") }) {
		t.Errorf("filtered audit log misses the failed sign-in: %q", rows)
	}
	j.checkPage("admin-audit-about-user")
	j.expectFitsPhone("admin-audit-about-user")

	j.click(link("Emergency access"))
	j.waitFor(testid("admin-emergency-page"))
	j.checkPage("admin-emergency")
	j.expectFitsPhone("admin-emergency")

	j.click(link("Keys"))
	j.waitFor(testid("admin-keys-page"))
	if n := j.count(`[data-testid="key-row"]`); n == 0 {
		t.Errorf("the keys page lists no key version")
	}
	j.checkPage("admin-keys")
	j.expectFitsPhone("admin-keys")
}

// Admin pages ask for the password again after a while without admin
// activity (PORTAL_ADMIN_REAUTH), and lead back to the page asked for.
func TestAdminReauthenticationAfterIdle(t *testing.T) {
	const idle = 2 * time.Second
	j := startJourney(t, "admin re-authentication", map[string]string{"PORTAL_ADMIN_REAUTH": idle.String()})
	adminEmail := "ada.admin@healthnet.example"
	j.site.createAdmin(adminEmail, "Ada Admin")
	j.signInAs(adminEmail, "Ada Admin", testid("admin-users-page"))

	// The console stays open, untouched, past the limit.
	j.do("stay idle", chromedp.Sleep(idle+500*time.Millisecond))
	j.click(link("Audit log"))
	j.waitFor(testid("reauth-page"))
	if got := j.path(); !strings.HasPrefix(got, "/admin/reauth?next=%2Fadmin%2Faudit") {
		t.Errorf("idle admin asked to re-authenticate at %s, want /admin/reauth?next=/admin/audit", got)
	}
	j.checkPage("reauth")

	j.typeInto("password", otherPassword)
	j.click(button("Continue"))
	j.waitFor(testid("reauth-page"))
	if got := j.text(chromedp.CSS(`[data-testid="reauth-page"] [role="alert"]`)); got != "That password is not right." {
		t.Errorf("wrong password on the re-authentication page says %q", got)
	}
	j.checkPage("reauth-wrong-password")

	j.typeInto("password", goodPassword)
	j.typeInto("code", j.site.code(adminEmail))
	j.click(button("Continue"))
	j.waitFor(testid("admin-audit-page"))
	if got := j.path(); got != "/admin/audit" {
		t.Errorf("after re-authenticating the browser is at %s, want /admin/audit", got)
	}
	j.checkPage("admin-audit-after-reauth")
}
