package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/accounts"
)

// phone is a person's authenticator app: it learns the key from the set-up
// page and shows codes for the portal's account clock.
type phone struct {
	secret   string
	lastStep int64 // each code works once: the newest step given
}

// code is the app's code for a step it has not given yet: the current
// one, else the next (the drift the portal allows), else the account
// clock moves on a step.
func (s *site) code(email string) string {
	s.t.Helper()
	s.mu.Lock()
	p := s.phones[email]
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("%s has no phone app", email)
	}
	cur := s.now().Unix() / 30
	step := max(cur, p.lastStep+1)
	if step > cur+1 {
		s.advanceClock(30 * time.Second)
	}
	p.lastStep = step
	c, err := accounts.TOTPCode(p.secret, time.Unix(step*30, 0))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// secondStep finishes a sign-in whose password was just sent: it sets up
// a phone app when the portal asks (reading the key as a person would),
// or types the app's code. A sign-in without a second step passes.
func (tb *tab) secondStep(email string) {
	tb.t.Helper()
	switch tb.path() {
	case "/account/mfa/totp":
		tb.setUpApp(email, false)
		tb.click(link("I have saved them: continue"))
	case "/login/second-factor":
		tb.typeInto("code", tb.site.code(email))
		tb.click(button("Continue"))
	}
}

// setUpApp reads the key off the set-up page into a new phone app, types
// its first code and waits for the recovery codes (checking both pages
// when check is set).
func (tb *tab) setUpApp(email string, check bool) {
	tb.t.Helper()
	if tb.site == nil {
		tb.t.Fatal("a second step needs the tab's site")
	}
	tb.waitFor(testid("totp-setup-page"))
	if check {
		tb.checkPage("set up an authenticator app")
	}
	key := strings.ReplaceAll(tb.text(testid("totp-secret")), " ", "")
	tb.site.mu.Lock()
	tb.site.phones[email] = &phone{secret: key}
	tb.site.mu.Unlock()
	tb.typeInto("code", tb.site.code(email))
	tb.click(button("Turn on"))
	tb.waitFor(testid("recovery-codes-page"))
	if n := tb.count(`[data-testid="recovery-codes"] li`); n != 10 {
		tb.t.Errorf("%d recovery codes shown, want 10", n)
	}
	if check {
		tb.checkPage("recovery codes")
	}
}

// Issue 16: a representative's first sign-in sets up an authenticator app
// (the key read off the page, as someone typing it into a phone would);
// the next sign-in asks for the code, on a page fit for a phone; a lost
// phone is a recovery code away.
func TestJourneyStaffSecondFactor(t *testing.T) {
	j := startJourney(t, "J16 second factor", nil)
	const email = "lena.ortiz@plan.example"
	j.site.createStaff(email, "Lena Ortiz", "Los Angeles County")

	j.navigate("/login")
	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.setUpApp(email, true)
	codes := j.texts(`[data-testid="recovery-codes"] code`)
	j.click(link("I have saved them: continue"))
	j.expectSignedInAt(testid("inbox-page"), "Lena Ortiz")

	j.click(button("Sign out"))
	j.navigate("/login")
	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.waitFor(testid("second-factor-page"))
	j.expectFitsPhone("second factor")
	j.checkPage("second factor")
	j.typeInto("code", "000000")
	j.click(button("Continue"))
	j.expectErrorSummary("code")
	j.click(chromedp.Search(`[data-testid="use-recovery-code"]`))
	j.waitFor(testid("second-factor-page"))
	j.typeInto("code", codes[0])
	j.click(button("Continue"))
	j.expectSignedInAt(testid("inbox-page"), "Lena Ortiz")
	j.navigate("/account")
	if got := j.text(testid("recovery-left")); got != "9 unused" {
		t.Errorf("account page: recovery codes %q, want 9 unused", got)
	}
	j.checkPage("account with second factor")
}
