package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	cdpwebauthn "github.com/chromedp/cdproto/webauthn"
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

// addAuthenticator gives the tab a platform authenticator that holds
// passkeys and verifies its user (a fingerprint reader), answering every
// prompt by itself.
func (tb *tab) addAuthenticator() cdpwebauthn.AuthenticatorID {
	tb.t.Helper()
	var id cdpwebauthn.AuthenticatorID
	err := chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		off := false
		if _, err := cdp.Call(ctx, t, cdpwebauthn.Enable, cdpwebauthn.EnableParams{EnableUI: &off}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, cdpwebauthn.AddVirtualAuthenticator, cdpwebauthn.AddVirtualAuthenticatorParams{
			Options: &cdpwebauthn.VirtualAuthenticatorOptions{
				Protocol: cdpwebauthn.AuthenticatorProtocolCtap2, Ctap2version: cdpwebauthn.Ctap2versionCtap21,
				Transport: cdpwebauthn.AuthenticatorTransportInternal, HasResidentKey: true,
				HasUserVerification: true, IsUserVerified: true,
				// Sent whatever its value: false would leave every prompt waiting.
				AutomaticPresenceSimulation: true,
			}})
		if err != nil {
			return err
		}
		id = res.AuthenticatorID
		return nil
	}))
	if err != nil {
		tb.t.Fatalf("virtual authenticator: %v", err)
	}
	return id
}

// passkeysOn lists the passkeys the tab's authenticator holds.
func (tb *tab) passkeysOn(id cdpwebauthn.AuthenticatorID) []*cdpwebauthn.Credential {
	tb.t.Helper()
	res, err := chromedp.Call(tb.ctx, cdpwebauthn.GetCredentials, cdpwebauthn.GetCredentialsParams{AuthenticatorID: id})
	if err != nil {
		tb.t.Fatalf("authenticator's credentials: %v", err)
	}
	return res.Credentials
}

// Issue 16: a provider adds a passkey on the account side, then signs in
// with it alone: no password, no code.
func TestJourneyPasskey(t *testing.T) {
	j := startJourney(t, "J16 passkey", nil)
	const email = "dr.shah@valleycardio.example"
	j.site.createProvider(email, "Dr. Priya Shah", goodPassword)
	authenticator := j.addAuthenticator()
	j.signIn(email, "Dr. Priya Shah", testid("inbox-page"))

	j.navigate("/account/passkeys")
	j.waitFor(testid("passkeys-page"))
	j.checkPage("passkeys")
	j.typeInto("name", "Front desk computer")
	j.click(button("Add a passkey"))
	j.waitFor(testid("passkey-list"))
	j.expectNotice("Your passkey was added. Next time, choose “Sign in with a passkey”. We emailed you about the change.")
	if got := j.texts(`[data-testid="passkey-row"] td:first-child`); len(got) != 1 || got[0] != "Front desk computer" {
		t.Errorf("passkeys listed: %q", got)
	}
	held := j.passkeysOn(authenticator)
	if len(held) != 1 || !held[0].IsResidentCredential || held[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %d passkeys: %+v", len(held), held)
	}
	j.checkPage("passkeys-with-one")

	// The browser offers the passkey in the email field's suggestions; an
	// authenticator that answers by itself takes the offer at once, on the
	// sign-in page that signing out lands on. (Opening /login again from
	// there would start a second offer while the first may be finishing:
	// two sign-ins.)
	j.click(button("Sign out"))
	j.expectSignedInAt(testid("inbox-page"), "Dr. Priya Shah")
	j.expectPasskeySignIns(1)

	// A browser without those suggestions: the button.
	j.withoutPasskeyAutofill()
	j.click(button("Sign out"))
	j.waitFor(testid("passkey-sign-in"))
	j.checkPage("sign-in with passkeys")
	j.click(button("Sign in with a passkey"))
	j.expectSignedInAt(testid("inbox-page"), "Dr. Priya Shah")
	j.expectPasskeySignIns(2)
	j.navigate("/account/passkeys")
	if got := j.texts(`[data-testid="passkey-row"] td:nth-child(3)`); len(got) != 1 || got[0] == "Not used yet" {
		t.Errorf("last used: %q", got)
	}
}

// expectPasskeySignIns checks how many sign-ins by passkey are audited.
func (j *journey) expectPasskeySignIns(want int) {
	j.t.Helper()
	var n int
	j.site.App.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'login.succeeded' AND detail->>'factor' = 'passkey'`).Scan(&n)
	if n != want {
		j.t.Errorf("%d sign-ins by passkey audited, want %d", n, want)
	}
}

// withoutPasskeyAutofill makes the tab's pages see a browser that offers no
// passkeys in form suggestions (as many still do not).
func (tb *tab) withoutPasskeyAutofill() {
	tb.t.Helper()
	err := chromedp.Do(tb.ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`})
		return err
	}))
	if err != nil {
		tb.t.Fatalf("turn off passkey autofill: %v", err)
	}
}
