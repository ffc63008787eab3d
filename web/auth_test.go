package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
)

const goodPassword = "copper kettle whistles at dawn"

// invite creates a pending provider the way staff will, and returns the
// registration link from the email that arrives.
func (s *site) invite(email, next string) string {
	s.t.Helper()
	if _, err := s.app.Accounts.CreateUser(context.Background(), email, "", accounts.RoleProvider, "", 0, next); err != nil {
		s.t.Fatal(err)
	}
	addr, _ := accounts.NormalizeEmail(email)
	_, link := s.mailTo(addr, "registration", "/register/")
	return link
}

func (b *browser) register(link, name, pw string) page {
	return b.post(link, url.Values{"name": {name}, "password": {pw}, "password_confirm": {pw}})
}

func (b *browser) login(email, pw string) page {
	return b.post("/login", url.Values{"email": {email}, "password": {pw}})
}

func TestRegistrationLoginLogoutForgotResetJourney(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	link := s.invite("Dr.Lopez@Clinic.example ", "/account")

	p := b.get(link)
	must(t, "registration page 200", p.Status == 200)
	contains(t, "registration page", p.Body, `value="dr.lopez@clinic.example" readonly`, `name="name"`, `name="password"`, `name="password_confirm"`,
		`data-min-length="15"`, "/js/password.js")
	must(t, "token page sends no referrer", p.Header.Get("Referrer-Policy") == "no-referrer")

	p = b.post(link, url.Values{"name": {"Dr. Maria Lopez"}, "password": {goodPassword}, "password_confirm": {goodPassword + "x"}})
	must(t, "mismatch refused with 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "mismatch page", p.Body, "The two passwords do not match", `aria-invalid="true"`, `role="alert"`)

	p = b.register(link, "Dr. Maria Lopez", goodPassword)
	must(t, "registration redirects", p.Status == http.StatusSeeOther)
	must(t, "lands on the page the link was for: "+p.Location, p.Location == "/account")
	p = b.get("/account")
	contains(t, "account page after registering", p.Body, "dr.lopez@clinic.example", "Signed in as Dr. Maria Lopez")

	// The link was single use.
	p = s.browser().get(link)
	must(t, "used link answers 410", p.Status == http.StatusGone)
	contains(t, "used link page", p.Body, "This link no longer works")

	p = b.post("/logout", nil)
	must(t, "logout redirects to sign-in", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	p, _ = b.follow("/account")
	contains(t, "after logout", p.Body, "Please sign in")

	p = b.login("dr.lopez@clinic.example", "wrong password entirely")
	must(t, "wrong password 401", p.Status == http.StatusUnauthorized)
	p = b.login("DR.LOPEZ@clinic.example", goodPassword)
	must(t, "login redirects", p.Status == http.StatusSeeOther)
	other := s.browser() // a second, older session on another computer
	other.login("dr.lopez@clinic.example", goodPassword)
	must(t, "other browser signed in", other.get("/account").Status == 200)

	p = b.post("/forgot-password", url.Values{"email": {"dr.lopez@clinic.example"}})
	contains(t, "forgot answer", p.Body, "If an account exists for that address")
	_, resetLink := s.mailTo("dr.lopez@clinic.example", "Reset your", "/reset-password/")
	p = b.get(resetLink)
	must(t, "reset page", p.Status == 200 && p.Header.Get("Referrer-Policy") == "no-referrer")
	const newPassword = "violet harbour lanterns sway gently"
	p = b.post(resetLink, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
	must(t, "reset redirects to sign-in", p.Status == http.StatusSeeOther && p.Location == "/login?reason=reset")
	s.mailTo("dr.lopez@clinic.example", "password was changed", "")

	// Every session ended, this one and the other computer's.
	for name, br := range map[string]*browser{"this browser": b, "other browser": other} {
		p := br.get("/account")
		must(t, name+": session ended by reset, got "+p.Location, p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	}
	must(t, "old password no longer works", b.login("dr.lopez@clinic.example", goodPassword).Status == http.StatusUnauthorized)
	must(t, "new password works", b.login("dr.lopez@clinic.example", newPassword).Status == http.StatusSeeOther)
	must(t, "reset link is single use", s.browser().get(resetLink).Status == http.StatusGone)

	var actions []string
	rows, err := s.app.Pool.Query(context.Background(), "SELECT action FROM audit_events ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		rows.Scan(&a)
		actions = append(actions, a)
	}
	got := strings.Join(actions, " ")
	contains(t, "audit log", got, "user.created", "registration.completed", "logout", "login.failed", "login.succeeded",
		"password_reset.requested", "password_reset.completed")
}

func TestRegistrationRefusesWeakPasswordsWithTheReason(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	link := s.invite("nurse@clinic.example", "")
	cases := map[string]string{
		"short":                    "Use at least 15 characters",
		"password12345678":         "commonly used",
		"nurse@clinic.example!!":   "email address",
		"healthnet healthnet 2026": "Health Net",
		strings.Repeat("a very long phrase ", 600): "at most 256 characters",
	}
	for pw, want := range cases {
		p := b.register(link, "Nurse Joy", pw)
		must(t, "weak password refused with 422: "+pw[:min(len(pw), 20)], p.Status == http.StatusUnprocessableEntity)
		if !strings.Contains(p.Body, want) && !strings.Contains(strings.ToLower(p.Body), strings.ToLower(want)) {
			t.Errorf("password %.20q: page does not say %q", pw, want)
		}
	}
	// Nothing changed: the link still works.
	must(t, "link still valid after refusals", b.get(link).Status == 200)
	p := b.register(link, "", goodPassword)
	contains(t, "empty name", p.Body, "Enter your name")
}

func TestLinksAreNewestOnlyAndExpire(t *testing.T) {
	s := newSite(t, nil)
	first := s.invite("pa@clinic.example", "")
	p := s.browser().post(first+"/new-link", nil)
	contains(t, "new link page", p.Body, "we have emailed a new link")
	_, second := s.mailTo("pa@clinic.example", "registration", "/register/")
	must(t, "old link void once a newer exists", s.browser().get(first).Status == http.StatusGone)
	must(t, "newest link works", s.browser().get(second).Status == 200)

	s.clock.Advance(73 * time.Hour)
	p = s.browser().get(second)
	must(t, "expired link answers 410", p.Status == http.StatusGone)
	contains(t, "expired page", p.Body, "Send me a new link")
	must(t, "expired link cannot register", s.browser().register(second, "PA", goodPassword).Status == http.StatusGone)
}

func TestGarbageTokensGetTheLinkPageNotAnError(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "1000"})
	b := s.browser()
	for _, tok := range []string{"x", strings.Repeat("A", 43), "%00%00", strings.Repeat("z", 500), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!"} {
		for _, path := range []string{"/register/" + tok, "/reset-password/" + tok} {
			if p := b.get(path); p.Status != http.StatusGone && p.Status != http.StatusNotFound {
				t.Errorf("GET %s: status %d", path[:min(len(path), 40)], p.Status)
			}
			if p := b.post(path, url.Values{"password": {goodPassword}, "password_confirm": {goodPassword}, "name": {"x"}}); p.Status != http.StatusGone && p.Status != http.StatusNotFound {
				t.Errorf("POST %s: status %d", path[:min(len(path), 40)], p.Status)
			}
		}
		p := b.post("/register/"+tok+"/new-link", nil)
		must(t, "new-link answers the same for garbage", p.Status == http.StatusGone || p.Status == http.StatusNotFound)
	}
	must(t, "no mail sent for garbage tokens", len(s.mail.Messages()) == 0)
}

func TestSessionFixationIsPrevented(t *testing.T) {
	s := newSite(t, nil)
	if _, err := s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	base, _ := url.Parse(s.URL)
	b.c.Jar.SetCookies(base, []*http.Cookie{{Name: "session", Value: "attacker-chosen-session-id"}})
	b.signInFully("rep@plan.example", goodPassword)
	first := sessionCookie(b, base)
	must(t, "planted session id replaced at sign-in", first != "" && first != "attacker-chosen-session-id")

	// Signing in again renews the token; the old one stops working.
	b.signInFully("rep@plan.example", goodPassword)
	second := sessionCookie(b, base)
	must(t, "token renewed on each sign-in", second != first)
	stale := s.browser()
	stale.c.Jar.SetCookies(base, []*http.Cookie{{Name: "session", Value: first}})
	must(t, "old token no longer signed in", stale.get("/account").Status == http.StatusSeeOther)
}

func sessionCookie(b *browser, base *url.URL) string {
	for _, c := range b.c.Jar.Cookies(base) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func TestIdleTimeoutSignsOutAndSaysWhy(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "1s"})
	s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	b := s.browser()
	b.signInFully("rep@plan.example", goodPassword)
	must(t, "signed in", b.get("/account").Status == 200)
	time.Sleep(1500 * time.Millisecond) // wait out the 1 s idle timeout
	p := b.get("/account")
	must(t, "idle session redirected: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=idle") && strings.Contains(p.Location, "next=%2Faccount"))
	p, _ = b.follow(p.Location)
	contains(t, "sign-in page", p.Body, "signed out after a period without activity")
}

func TestAbsoluteLifetimeSignsOutEvenWhenActive(t *testing.T) {
	// The idle window is wide enough that a slow request on a busy CI
	// machine cannot end the session early for the wrong reason.
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "2s", "PORTAL_SESSION_LIFETIME": "3s"})
	s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	b := s.browser()
	start := time.Now() // the lifetime counts from sign-in, which starts here
	b.signInFully("rep@plan.example", goodPassword)
	for time.Since(start) < 8*time.Second {
		p := b.get("/account") // active every 400 ms: the idle timeout never fires
		if p.Status != http.StatusOK {
			must(t, "session ended by lifetime: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=lifetime"))
			must(t, "not before the lifetime", time.Since(start) >= 3*time.Second)
			return
		}
		time.Sleep(400 * time.Millisecond)
	}
	t.Fatal("session outlived its 3 s lifetime")
}

func TestDisablingAnAccountEndsItsSessions(t *testing.T) {
	s := newSite(t, nil)
	u, _ := s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	b := s.browser()
	b.signInFully("rep@plan.example", goodPassword)
	must(t, "signed in", b.get("/account").Status == 200)
	// Only the status changes (the console's "disable" also moves the auth
	// epoch): the session check must refuse a disabled account by itself.
	if _, err := s.app.Pool.Exec(context.Background(), "UPDATE users SET status = 'disabled' WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	p := b.get("/account")
	must(t, "disabled user's session ended: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=changed"))
	must(t, "disabled user cannot sign in", b.signInFully("rep@plan.example", goodPassword).Status == http.StatusUnauthorized)
}

func TestLockoutAfterRepeatedFailuresAndItsExpiry(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_LOCKOUT_THRESHOLD": "3", "PORTAL_LOCKOUT_DURATION": "15m"})
	s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	b := s.browser()
	for range 3 {
		b.login("rep@plan.example", "not the password at all")
	}
	p := b.signInFully("rep@plan.example", goodPassword)
	must(t, "locked account refuses the right password with the uniform answer", p.Status == http.StatusUnauthorized)
	var locked int
	s.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM audit_events WHERE action = 'account.locked'").Scan(&locked)
	must(t, "lockout audited", locked == 1)

	// The lockout never blocks the forgot-password path.
	b.post("/forgot-password", url.Values{"email": {"rep@plan.example"}})
	s.mailTo("rep@plan.example", "Reset your", "/reset-password/")

	s.clock.Advance(16 * time.Minute)
	b.signInFully("rep@plan.example", goodPassword)
	must(t, "lock expires", b.get("/staff").Status == http.StatusOK)
}

// The answer must not tell whether an account exists.
func TestUniformAnswersForUnknownAndKnownAccounts(t *testing.T) {
	s := newSite(t, nil)
	s.app.Accounts.CreateUser(context.Background(), "known@clinic.example", "Known", accounts.RoleProvider, goodPassword, 0, "")
	s.app.Accounts.CreateUser(context.Background(), "pending@clinic.example", "", accounts.RoleProvider, "", 0, "")
	s.mailTo("pending@clinic.example", "registration", "")
	b := s.browser()
	normal := func(p page, email string) string {
		body := strings.ReplaceAll(p.Body, email, "EMAIL")
		return strings.ReplaceAll(body, p.Header.Get("X-Request-Id"), "ID")
	}
	known := b.login("known@clinic.example", "wrong password here")
	for _, email := range []string{"nobody@clinic.example", "pending@clinic.example"} {
		other := b.login(email, "wrong password here")
		must(t, "same status for "+email, other.Status == known.Status)
		must(t, "same page for "+email, normal(other, email) == normal(known, "known@clinic.example"))
	}
	fk := b.post("/forgot-password", url.Values{"email": {"known@clinic.example"}})
	fu := b.post("/forgot-password", url.Values{"email": {"nobody@clinic.example"}})
	must(t, "forgot-password answers alike", fk.Status == fu.Status && normal(fk, "x") == normal(fu, "x"))
}

func TestBadInputGetsClearMessages(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	p := b.login("", "")
	must(t, "empty login 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "empty login", p.Body, "Enter your email address.", "Enter your password.", `href="#field-email"`)
	p = b.login("not-an-email", "whatever")
	contains(t, "malformed email", p.Body, "Enter an email address like name@example.org.")
	p = b.login("someone@clinic.example", strings.Repeat("x", 10<<10))
	must(t, "10 KB password is a plain failure, not a 500", p.Status == http.StatusUnauthorized)
	p = b.post("/forgot-password", url.Values{"email": {"@@"}})
	must(t, "malformed forgot email 422", p.Status == http.StatusUnprocessableEntity)
	// Form routes cap the body (PORTAL_MAX_FORM_BYTES, 1 MiB): a 2 MiB form
	// is refused as too large before any work, where Go's own cap would
	// allow 10 MB.
	p = b.login("someone@clinic.example", strings.Repeat("x", 2<<20))
	must(t, fmt.Sprintf("2 MiB form refused: %d", p.Status), p.Status == http.StatusRequestEntityTooLarge)

	p = b.do(http.MethodPost, "/login", url.Values{"email": {"a@b.example"}, "password": {"x"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}})
	must(t, "cross-site sign-in refused", p.Status == http.StatusForbidden)
}

func TestNoOpenRedirectAfterLogin(t *testing.T) {
	s := newSite(t, nil)
	s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	s.signedIn("rep@plan.example") // sets up the phone app: each sign-in below stops at the code
	for _, next := range []string{"//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)", "/account"} {
		b := s.browser()
		p := b.secondStep("rep@plan.example", b.post("/login", url.Values{"email": {"rep@plan.example"}, "password": {goodPassword}, "next": {next}}))
		want := "/staff" // a representative's home
		if next == "/account" {
			want = "/account"
		}
		must(t, "next="+next+" went to "+p.Location, p.Location == want)
	}
}

func TestDoorsAreRateLimitedPerClient(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "3"})
	_, b := s.admin("admin@plan.example") // the sign-in is the 1st request to a door
	for range 2 {
		b.login("x@clinic.example", "wrong")
	}
	p := b.login("x@clinic.example", "wrong")
	must(t, "4th attempt in a minute gets 429", p.Status == http.StatusTooManyRequests)
	contains(t, "429 page", p.Body, "Too many attempts")
	must(t, "Retry-After set", p.Header.Get("Retry-After") != "")

	// The allowance is one for all the doors: every one of them now refuses.
	token := strings.Repeat("A", 43)
	for _, door := range []struct{ method, path string }{
		{"POST", "/forgot-password"}, {"GET", "/register/" + token}, {"POST", "/register/" + token},
		{"POST", "/register/" + token + "/new-link"}, {"GET", "/reset-password/" + token}, {"POST", "/reset-password/" + token},
		{"POST", "/account/password"}, {"POST", "/admin/reauth"},
	} {
		p := b.do(door.method, door.path, url.Values{"email": {"x@clinic.example"}, "password": {"wrong"}}, nil)
		must(t, door.method+" "+door.path+" is rate-limited", p.Status == http.StatusTooManyRequests)
	}
}

// Logs must never hold a password or a link token.
func TestNoTokenOrPasswordInLogs(t *testing.T) {
	s := newSite(t, nil)
	b := s.browser()
	link := s.invite("md@clinic.example", "")
	b.get(link)
	b.register(link, "Dr. Md", goodPassword)
	b.post("/logout", nil)
	b.login("md@clinic.example", "a wrong password value")
	b.post("/forgot-password", url.Values{"email": {"md@clinic.example"}})
	_, reset := s.mailTo("md@clinic.example", "Reset your", "/reset-password/")
	b.get(reset)
	logs := s.logs.String()
	for _, secret := range []string{strings.TrimPrefix(link, "/register/"), strings.TrimPrefix(reset, "/reset-password/"), goodPassword, "a wrong password value"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain a secret %q", secret[:8]+"…")
		}
	}
	contains(t, "logs", logs, `"path":"/register/REDACTED"`, `"path":"/reset-password/REDACTED"`)
}

// Reading pages does not write the session row on every request (it did
// when scs moved the idle expiry each time): activity is recorded at most
// once per idleTouch, and each save moves the row's expiry to one idle
// period after it.
func TestReadsRecordActivityAtMostOncePerTouchInterval(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "30s"}) // activity recorded every 2 s
	s.app.Accounts.CreateUser(context.Background(), "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	b := s.browser()
	b.signInFully("rep@plan.example", goodPassword)
	expiry := func() time.Time {
		var e time.Time
		if err := s.app.Pool.QueryRow(context.Background(), "SELECT max(expiry) FROM sessions").Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	saved := expiry()
	if d := time.Until(saved); d <= 0 || d > 30*time.Second {
		t.Fatalf("session row expires in %v, want within the 30 s idle period", d)
	}
	for range 5 {
		must(t, "page read", b.get("/staff").Status == http.StatusOK)
	}
	if got := expiry(); !got.Equal(saved) {
		t.Errorf("reads straight after sign-in rewrote the session (expiry %v, then %v)", saved, got)
	}
	time.Sleep(2100 * time.Millisecond)
	must(t, "page read", b.get("/staff").Status == http.StatusOK)
	if got := expiry(); !got.After(saved) {
		t.Errorf("a read after the touch interval did not record activity (expiry still %v)", got)
	}
}

// Signing in saves whose session it is (read with the session on every
// page: one round trip for both), and a session saved before that was kept
// still opens pages, reading its user apart.
func TestTheSessionRowNamesItsUser(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	u, err := s.app.Accounts.CreateUser(ctx, "rep@plan.example", "Rep", accounts.RoleStaff, goodPassword, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	b := s.browser()
	b.signInFully("rep@plan.example", goodPassword)
	var owners []int64
	if err := s.app.Pool.QueryRow(ctx, `SELECT array_agg(coalesce(user_id, 0)) FROM sessions`).Scan(&owners); err != nil {
		t.Fatal(err)
	}
	if len(owners) != 1 || owners[0] != u.ID {
		t.Fatalf("sessions' users %v, want one session of user %d", owners, u.ID)
	}
	if _, err := s.app.Pool.Exec(ctx, `UPDATE sessions SET user_id = NULL`); err != nil {
		t.Fatal(err)
	}
	must(t, "page with a session saved before user_id", b.get("/staff").Status == http.StatusOK)
	if _, err := s.app.Pool.Exec(ctx, `UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	must(t, "a changed auth epoch ends it", b.get("/staff").Status == http.StatusSeeOther)
}
