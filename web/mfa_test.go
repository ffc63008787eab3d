package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
)

var recoveryCodeOnPage = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)

// audited counts audit events of action whose detail matches the jsonb
// containment filter (or "{}").
func (s *site) audited(action, detail string) int {
	s.t.Helper()
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = $1 AND detail @> $2::jsonb`,
		action, detail).Scan(&n); err != nil {
		s.t.Fatal(err)
	}
	return n
}

// codeAt is what email's app shows at the step offset steps from now.
func (s *site) codeAt(email string, offset int64) string {
	s.t.Helper()
	c, err := accounts.TOTPCode(s.phone(email).secret, s.clock.Now().Add(time.Duration(offset)*30*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func TestStaffSetUpAnAppAtFirstSignInThenGiveACodeEveryTime(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	b := s.browser()

	p := b.login("rep@plan.example", goodPassword)
	must(t, "a right password goes on to setting up an app: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/account/mfa/totp")
	p = b.get("/staff")
	must(t, "not signed in before the second step", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	var secrets int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM totp_secrets`).Scan(&secrets)

	setup := b.get("/account/mfa/totp")
	must(t, "set-up page", setup.Status == http.StatusOK && setup.Header.Get("Cache-Control") == "no-store")
	contains(t, "set-up page", setup.Body, `data-testid="totp-secret"`, `<svg`, `<path d="M`, `inputmode="numeric"`, `autocomplete="one-time-code"`, `name="secret"`)
	must(t, "looking at the set-up page stores nothing", secrets == 0 && s.audited("mfa.totp_enrolled", "{}") == 0)
	app := s.addApp("rep@plan.example", setup.Body)

	wrong := "000000"
	if wrong == s.codeAt("rep@plan.example", 0) {
		wrong = "000001"
	}
	p = b.post("/account/mfa/totp", url.Values{"secret": {app.secret}, "code": {wrong}})
	must(t, "a wrong code is refused", p.Status == http.StatusUnprocessableEntity)
	contains(t, "wrong-code page", p.Body, "That code is not right", strings.ReplaceAll(app.secret[:4], " ", ""))
	must(t, "the same key is shown again", strings.Contains(s.addApp("rep@plan.example", p.Body).secret, app.secret))

	p = b.postCode("rep@plan.example", "/account/mfa/totp", url.Values{"secret": {app.secret}})
	must(t, "the app's code sets it up", p.Status == http.StatusOK)
	codes := recoveryCodeOnPage.FindAllStringSubmatch(p.Body, -1)
	must(t, fmt.Sprintf("ten recovery codes shown (%d)", len(codes)), len(codes) == 10)
	contains(t, "recovery page", p.Body, `href="/staff"`)
	must(t, "signed in after setting up", b.get("/staff").Status == http.StatusOK)
	must(t, "audited", s.audited("mfa.totp_enrolled", "{}") == 1 && s.audited("login.succeeded", `{"factor":"password+totp"}`) == 1)
	m, _ := s.mailTo("rep@plan.example", "sign-in settings changed", "")
	contains(t, "notice", m.Text, "An authenticator app was set up")

	b.post("/logout", nil)
	p = b.login("rep@plan.example", goodPassword)
	must(t, "the next sign-in asks for a code: "+p.Location, p.Location == "/login/second-factor")
	page := b.get(p.Location)
	contains(t, "code page", page.Body, `name="code"`, `inputmode="numeric"`, `autocomplete="one-time-code"`, "/login/second-factor?recovery=1")
	p = b.postCode("rep@plan.example", "/login/second-factor", url.Values{})
	must(t, "the code signs in: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff")
	must(t, "two sign-ins with the app", s.audited("login.succeeded", `{"factor":"password+totp"}`) == 2)

	acct := b.get("/account")
	contains(t, "account page", acct.Body, `data-testid="totp-state">Set up on`, "10 unused", "Password and app code", "Make new recovery codes")
	must(t, "required: no way to turn it off", !strings.Contains(acct.Body, "/account/mfa/off"))
	must(t, "staff cannot turn it off", b.get("/account/mfa/off").Status == http.StatusNotFound)

	assertNoPlaintext(t, s, app.secret, codes[0][1], strings.ReplaceAll(codes[0][1], "-", ""))
}

func TestCodesWorkOnceAndWithinOneStepOfDrift(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	b := s.signedIn("rep@plan.example")
	b.post("/logout", nil)
	try := func(code string) page {
		b.login("rep@plan.example", goodPassword)
		return b.post("/login/second-factor", url.Values{"code": {code}})
	}
	s.clock.Advance(5 * time.Minute) // well past the step used to set up

	p := try(s.codeAt("rep@plan.example", -2))
	must(t, "two steps old: expired", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "That code has expired"))
	p = try(s.codeAt("rep@plan.example", 2))
	must(t, "two steps ahead: wrong", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "That code is not right"))
	previous := s.codeAt("rep@plan.example", -1)
	p = try(previous)
	must(t, "one step old: accepted", p.Status == http.StatusSeeOther && p.Location == "/staff")
	b.post("/logout", nil)
	p = try(previous)
	must(t, "the same code again: refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "already used"))
	p = b.post("/login/second-factor", url.Values{"code": {s.codeAt("rep@plan.example", 1)}})
	must(t, "one step ahead: accepted", p.Status == http.StatusSeeOther)
	must(t, "each refusal audited with its reason",
		s.audited("login.failed", `{"reason":"expired_code"}`) == 1 && s.audited("login.failed", `{"reason":"wrong_code"}`) == 1 &&
			s.audited("login.failed", `{"reason":"replayed_code"}`) == 1)
	p = try("12 34")
	must(t, "a code of the wrong shape says what a code is", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "6-digit code"))
}

func TestWrongCodesCountTowardTheLockout(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_LOCKOUT_THRESHOLD": "3", "PORTAL_LOCKOUT_DURATION": "15m"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.signedIn("rep@plan.example")
	s.clock.Advance(5 * time.Minute)
	b := s.browser()
	b.login("rep@plan.example", "not the password at all")
	b.login("rep@plan.example", goodPassword)
	p := b.post("/login/second-factor", url.Values{"code": {s.codeAt("rep@plan.example", 5)}})
	must(t, "first wrong code: try again", p.Status == http.StatusUnprocessableEntity)
	p = b.post("/login/second-factor", url.Values{"code": {s.codeAt("rep@plan.example", 5)}})
	must(t, "third failure locks, and the sign-in starts over: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/login?reason=locked")
	contains(t, "sign-in page", b.get(p.Location).Body, "locked for a while")
	must(t, "lockout audited", s.audited("account.locked", "{}") == 1)
	p = b.login("rep@plan.example", goodPassword)
	must(t, "while locked the right password gets the uniform refusal", p.Status == http.StatusUnauthorized)
	must(t, "no half sign-in left", b.post("/login/second-factor", url.Values{"code": {"123456"}}).Location == "/login?reason=signin")

	s.clock.Advance(16 * time.Minute)
	b.signInFully("rep@plan.example", goodPassword)
	must(t, "after the lock, password and code sign in", b.get("/staff").Status == http.StatusOK)
}

func TestRecoveryCodeSignsInOnceAndIsMailed(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	b := s.browser()
	p := b.signInFully("rep@plan.example", goodPassword)
	codes := recoveryCodeOnPage.FindAllStringSubmatch(p.Body, -1)
	s.mailTo("rep@plan.example", "sign-in settings changed", "") // the set-up notice
	b.post("/logout", nil)

	typed := strings.ToUpper(strings.ReplaceAll(codes[3][1], "-", " "))
	b.login("rep@plan.example", goodPassword)
	must(t, "the recovery form", strings.Contains(b.get("/login/second-factor?recovery=1").Body, "Use a recovery code"))
	p = b.post("/login/second-factor", url.Values{"code": {typed}})
	must(t, "a recovery code, typed loosely, signs in: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff")
	m, _ := s.mailTo("rep@plan.example", "sign-in settings changed", "")
	contains(t, "notice", m.Text, "recovery codes was just used")
	must(t, "audited", s.audited("mfa.recovery_code_used", `{"codes_left":9}`) == 1 && s.audited("login.succeeded", `{"factor":"password+recovery_code"}`) == 1)
	contains(t, "account page", b.get("/account").Body, "9 unused", "Password and recovery code")

	b.post("/logout", nil)
	b.login("rep@plan.example", goodPassword)
	p = b.post("/login/second-factor", url.Values{"code": {codes[3][1]}})
	must(t, "the same recovery code again is refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "already used"))

	// New codes replace the old: an old one no longer works.
	b.postCode("rep@plan.example", "/login/second-factor", url.Values{})
	p = b.postCode("rep@plan.example", "/account/mfa/recovery-codes", url.Values{})
	fresh := recoveryCodeOnPage.FindAllStringSubmatch(p.Body, -1)
	must(t, "ten new codes", p.Status == http.StatusOK && len(fresh) == 10)
	b.post("/logout", nil)
	b.login("rep@plan.example", goodPassword)
	must(t, "an old code is void", b.post("/login/second-factor", url.Values{"code": {codes[5][1]}}).Status == http.StatusUnprocessableEntity)
	must(t, "a new one works", b.post("/login/second-factor", url.Values{"code": {fresh[0][1]}}).Status == http.StatusSeeOther)
	must(t, "replacement audited", s.audited("mfa.recovery_codes_replaced", "{}") == 1)
}

func TestAdminResetsASecondFactor(t *testing.T) {
	s := newSite(t, nil)
	rep, _ := s.staffIn("rep@plan.example", "Rep", "LA")
	_, ab := s.admin("admin@plan.example")
	rb := s.signedIn("rep@plan.example")
	s.mailTo("rep@plan.example", "sign-in settings changed", "") // the set-up notice
	contains(t, "users list", ab.get("/admin/users?q=rep").Body, `data-testid="user-factor">Authenticator app`)

	p := ab.act(rep.ID, "reset_mfa", "Lost phone, verified by callback")
	must(t, "reset done", p.Status == http.StatusSeeOther)
	p = rb.get("/staff")
	must(t, "the user's sessions ended: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=changed"))
	contains(t, "users list after", ab.get("/admin/users?q=rep").Body, `data-testid="user-factor">None`)
	must(t, "audited with the reason", s.audited("admin.reset_mfa", `{"reason":"Lost phone, verified by callback"}`) == 1)
	m, _ := s.mailTo("rep@plan.example", "sign-in settings changed", "")
	contains(t, "notice", m.Text, "An administrator removed the authenticator app")
	var left int
	s.app.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM totp_secrets WHERE user_id = $1)
		+ (SELECT count(*) FROM recovery_codes WHERE user_id = $1)`, rep.ID).Scan(&left)
	must(t, "secret and codes deleted", left == 0)

	p = s.browser().login("rep@plan.example", goodPassword)
	must(t, "the next sign-in sets up a new app", p.Location == "/account/mfa/totp")
	// Nothing to reset any more: the console no longer offers it.
	must(t, "not offered again", ab.post(fmt.Sprintf("/admin/users/%d/actions", rep.ID),
		url.Values{"action": {"reset_mfa"}, "reason": {"again"}}).Status == http.StatusConflict)
}

func TestSecondFactorPolicyPerRole(t *testing.T) {
	t.Run("staff optional, providers may choose", func(t *testing.T) {
		s := newSite(t, map[string]string{"PORTAL_MFA_STAFF": "optional"})
		s.staffIn("rep@plan.example", "Rep", "LA")
		must(t, "staff sign in with the password alone", s.browser().login("rep@plan.example", goodPassword).Location == "/staff")
		s.provider("dr@clinic.example")
		b := s.browser()
		must(t, "providers too", b.login("dr@clinic.example", goodPassword).Location == "/inbox")
		contains(t, "account page offers it", b.get("/account").Body, `data-testid="setup-totp"`)
		b.setUpApp("dr@clinic.example")
		s.mailTo("dr@clinic.example", "sign-in settings changed", "")
		b2 := s.browser()
		must(t, "once set up, it is asked for", b2.login("dr@clinic.example", goodPassword).Location == "/login/second-factor")

		p := b.post("/account/mfa/off", url.Values{"code": {"999999"}})
		must(t, "turning off needs a right code", p.Status == http.StatusUnprocessableEntity)
		p = b.postCode("dr@clinic.example", "/account/mfa/off", url.Values{})
		must(t, "turned off: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/account?changed=mfa_off")
		must(t, "this browser stays signed in", b.get("/inbox").Status == http.StatusOK)
		must(t, "the password alone again", s.browser().login("dr@clinic.example", goodPassword).Location == "/inbox")
		m, _ := s.mailTo("dr@clinic.example", "sign-in settings changed", "")
		contains(t, "notice", m.Text, "turned off")
		must(t, "audited", s.audited("mfa.removed", "{}") == 1)
	})
	t.Run("providers required", func(t *testing.T) {
		s := newSite(t, map[string]string{"PORTAL_MFA_PROVIDER": "required"})
		s.provider("dr@clinic.example")
		must(t, "a provider sets up an app at sign-in", s.browser().login("dr@clinic.example", goodPassword).Location == "/account/mfa/totp")
	})
	t.Run("providers off", func(t *testing.T) {
		s := newSite(t, map[string]string{"PORTAL_MFA_PROVIDER": "off"})
		s.provider("dr@clinic.example")
		b := s.signedIn("dr@clinic.example")
		must(t, "no set-up page", b.get("/account/mfa/totp").Status == http.StatusNotFound)
		must(t, "nothing offered on the account page", !strings.Contains(b.get("/account").Body, "Authenticator app"))
	})
}

// A next path carried through the second step is held to the same rule
// as at the password: only a local path, else the user's home.
func TestSecondStepKeepsNextOnSite(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.signedIn("rep@plan.example")
	for _, next := range []string{"//evil.example/x", "https://evil.example", "/\\evil.example", "/account"} {
		b := s.browser()
		p := b.post("/login", url.Values{"email": {"rep@plan.example"}, "password": {goodPassword}, "next": {next}})
		p = b.secondStep("rep@plan.example", p)
		want := "/staff"
		if next == "/account" {
			want = "/account"
		}
		must(t, "next="+next+" went to "+p.Location, p.Location == want)
	}
}

// Someone at a signed-in browser guessing codes (to make new recovery
// codes, say) locks the account like at sign-in, and is signed out.
func TestGuessingCodesWhileSignedInLocksAndSignsOut(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_LOCKOUT_THRESHOLD": "3"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	b := s.signedIn("rep@plan.example")
	wrong := s.codeAt("rep@plan.example", 6)
	var p page
	for range 3 {
		p = b.post("/account/mfa/recovery-codes", url.Values{"code": {wrong}})
	}
	must(t, "locked and sent to sign in: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/login?reason=locked")
	p = b.get("/staff")
	must(t, "signed out", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	must(t, "the lock audited", s.audited("account.locked", "{}") == 1)
}
