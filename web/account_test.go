package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
)

const newPassword = "seven lanterns drift over harbor"

// Changing the password from the account page: wrong current passwords,
// weak and mismatched new ones are refused with the reason and change
// nothing; success keeps this browser signed in, ends every other session,
// emails a notice and is audited.
func TestChangePasswordKeepsThisSessionAndEndsOthers(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	const email = "office@clinic.example"
	u, err := s.app.Accounts.CreateUser(ctx, email, "Clinic Office", accounts.RoleProvider, goodPassword, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	here, elsewhere := s.signedIn(email), s.signedIn(email)

	p := here.get("/account")
	contains(t, "account page", p.Body, `href="/account/password"`, `href="/forgot-password"`)
	p = here.get("/account/password")
	must(t, "form 200", p.Status == http.StatusOK)
	contains(t, "form", p.Body, `name="current_password"`, `autocomplete="current-password"`, `name="password"`, `name="password_confirm"`, "/js/password.js")

	change := func(current, pw, confirm string) page {
		return here.post("/account/password", url.Values{"current_password": {current}, "password": {pw}, "password_confirm": {confirm}})
	}
	p = change("", newPassword, newPassword)
	must(t, "missing current password: 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "missing current password", p.Body, "Enter your current password.")
	p = change("not my password at all", newPassword, newPassword)
	must(t, "wrong current password: 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "wrong current password", p.Body, "That is not your current password.", `aria-describedby="field-current_password-error`)
	var failures int
	s.app.Pool.QueryRow(ctx, `SELECT failed_logins FROM users WHERE id = $1`, u.ID).Scan(&failures)
	must(t, "a wrong current password counts toward the lockout", failures == 1)
	p = change(goodPassword, "password", "password")
	must(t, "weak new password: 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "weak new password", p.Body, "Strength:")
	p = change(goodPassword, newPassword, newPassword+"x")
	must(t, "mismatch: 422", p.Status == http.StatusUnprocessableEntity)
	contains(t, "mismatch", p.Body, "The two passwords do not match.")
	must(t, "nothing changed yet: the other session still works", elsewhere.get("/account").Status == http.StatusOK)

	p = change(goodPassword, newPassword, newPassword)
	must(t, "changed: back to the account page", p.Status == http.StatusSeeOther && p.Location == "/account?changed=password")
	p = here.get(p.Location)
	must(t, "this browser still signed in", p.Status == http.StatusOK)
	contains(t, "confirmation", p.Body, "Your password was changed.")
	p = elsewhere.get("/account")
	must(t, "the other session ended: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=changed"))

	must(t, "old password refused", s.browser().login(email, goodPassword).Status == http.StatusUnauthorized)
	must(t, "new password works", s.browser().login(email, newPassword).Status == http.StatusSeeOther)
	m, _ := s.mailTo(email, "password was changed", "")
	must(t, "the notice holds no password", !strings.Contains(m.Text, newPassword) && !strings.Contains(m.HTML, newPassword))
	var audited int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'password.changed' AND actor_id = $1`, u.ID).Scan(&audited)
	must(t, "the change is audited", audited == 1)
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'login.failed' AND detail->>'reason' = 'wrong_current_password'`).Scan(&audited)
	must(t, "the wrong current password is audited", audited == 1)
	must(t, "no password in the logs", !strings.Contains(s.logs.String(), newPassword) && !strings.Contains(s.logs.String(), goodPassword))
}

// An open session must not become a way round the lockout: wrong current
// passwords lock the account like failed sign-ins, and while it is locked
// even the right one is refused.
func TestChangePasswordRespectsTheLockout(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_LOCKOUT_THRESHOLD": "3", "PORTAL_RATE_LIMIT_PER_MINUTE": "100"})
	const email = "office@clinic.example"
	if _, err := s.app.Accounts.CreateUser(context.Background(), email, "Clinic Office", accounts.RoleProvider, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	b := s.signedIn(email)
	change := func(current string) page {
		return b.post("/account/password", url.Values{"current_password": {current}, "password": {newPassword}, "password_confirm": {newPassword}})
	}
	for range 3 {
		change("a wrong guess at the password")
	}
	p := change(goodPassword)
	must(t, "locked: even the right password is refused", p.Status == http.StatusUnprocessableEntity)
	contains(t, "locked", p.Body, "Too many wrong passwords. Try again in 15 minutes")
	must(t, "password unchanged", s.browser().login(email, newPassword).Status == http.StatusUnauthorized)

	s.clock.Advance(16 * time.Minute)
	p = change(goodPassword)
	must(t, "after the lockout the change goes through", p.Status == http.StatusSeeOther)
}

// The account page shows the sign-in before this one and warns of failed
// attempts since, so that users notice someone trying their password.
func TestAccountPageShowsPreviousSignInAndFailedAttempts(t *testing.T) {
	s := newSite(t, nil)
	const email = "office@clinic.example"
	if _, err := s.app.Accounts.CreateUser(context.Background(), email, "Clinic Office", accounts.RoleProvider, goodPassword, 0, ""); err != nil {
		t.Fatal(err)
	}
	p := s.signedIn(email).get("/account")
	contains(t, "first sign-in", p.Body, "None: this is your first sign-in.")
	must(t, "no warning on a first sign-in", !strings.Contains(p.Body, `data-testid="failed-attempts"`))

	s.browser().login(email, "somebody guessing wrong")
	s.browser().login(email, "somebody guessing again")
	p = s.signedIn(email).get("/account")
	contains(t, "previous sign-in", p.Body, "from 127.0.0.1", "2 failed sign-in attempts with your email address since your previous sign-in.", `href="/account/password"`)
	must(t, "no longer the first", !strings.Contains(p.Body, "first sign-in"))

	p = s.signedIn(email).get("/account")
	must(t, "the warning is gone once the next sign-in had no failures before it", !strings.Contains(p.Body, `data-testid="failed-attempts"`))
}

// "Sign out everywhere else" ends the other sessions at once, keeps this
// one, and is audited.
func TestSignOutEverywhereElse(t *testing.T) {
	s := newSite(t, nil)
	const email = "office@clinic.example"
	u, err := s.app.Accounts.CreateUser(context.Background(), email, "Clinic Office", accounts.RoleProvider, goodPassword, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	here, shared := s.signedIn(email), s.signedIn(email)
	contains(t, "account page", here.get("/account").Body, `action="/account/sessions/end-others"`)
	p := here.post("/account/sessions/end-others", url.Values{})
	must(t, "back to the account page", p.Status == http.StatusSeeOther && p.Location == "/account?changed=sessions")
	contains(t, "confirmation", here.get(p.Location).Body, "You were signed out everywhere else.")
	p = shared.get("/inbox")
	must(t, "the shared computer's session ended: "+p.Location, p.Status == http.StatusSeeOther && strings.Contains(p.Location, "reason=changed"))
	var audited int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'sessions.ended_elsewhere' AND actor_id = $1`, u.ID).Scan(&audited)
	must(t, "audited", audited == 1)
	p = s.browser().post("/account/sessions/end-others", url.Values{})
	must(t, "signed out: sent to sign in, nothing ended", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
}
