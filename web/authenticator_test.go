package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
)

// phone plays a user's authenticator app: it learns the key from the
// set-up page, as a person typing it in would, and shows codes for the
// site's clock (the one the portal checks codes against).
type phone struct {
	// mu is held from making a code to the portal's answer: codes must
	// arrive in the order they were made, or a later step's code, accepted
	// first, makes an earlier one a replay.
	mu       sync.Mutex
	secret   string
	lastStep int64 // the newest step whose code it gave (each works once)
}

var secretOnPage = regexp.MustCompile(`data-testid="totp-secret">([A-Z2-7 ]+)<`)

// addApp reads the key off a set-up page into a new phone app for email.
func (s *site) addApp(email, setupPage string) *phone {
	s.t.Helper()
	m := secretOnPage.FindStringSubmatch(setupPage)
	if m == nil {
		s.t.Fatalf("no authenticator key on the set-up page:\n%s", setupPage)
	}
	p := &phone{secret: strings.ReplaceAll(html.UnescapeString(m[1]), " ", "")}
	s.phonesMu.Lock()
	defer s.phonesMu.Unlock()
	s.phones[strings.ToLower(email)] = p
	return p
}

func (s *site) phone(email string) *phone {
	s.phonesMu.Lock()
	defer s.phonesMu.Unlock()
	return s.phones[strings.ToLower(email)]
}

// code is the app's code for a step it has not given yet: the current one,
// else the next (within the drift the portal allows), else the clock moves
// on a step first. The caller holds p.mu.
func (s *site) code(p *phone) string {
	s.t.Helper()
	cur := s.clock.Now().Unix() / 30
	step := max(cur, p.lastStep+1)
	if step > cur+1 {
		s.clock.Advance(30 * time.Second)
	}
	p.lastStep = step
	c, err := accounts.TOTPCode(p.secret, time.Unix(step*30, 0))
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// freshCode is a code from email's phone app for a post the caller makes
// before any other code of email's is used.
func (s *site) freshCode(email string) string {
	s.t.Helper()
	app := s.phone(email)
	if app == nil {
		s.t.Fatalf("%s has no phone app", email)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	return s.code(app)
}

// postCode posts form to path with a fresh code from email's phone app.
func (b *browser) postCode(email, path string, form url.Values) page {
	b.t.Helper()
	app := b.s.phone(email)
	if app == nil {
		b.t.Fatalf("%s has no phone app", email)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	form.Set("code", b.s.code(app))
	return b.post(path, form)
}

// secondStep finishes a sign-in that stopped at the second factor (p is
// the answer to the password): it sets up a phone app when the portal
// asks for one, or types the app's code. Other answers pass through.
func (b *browser) secondStep(email string, p page) page {
	b.t.Helper()
	switch p.Location {
	case "/account/mfa/totp":
		setup := b.get(p.Location)
		if setup.Status != http.StatusOK {
			b.t.Fatalf("set-up page: %d", setup.Status)
		}
		app := b.s.addApp(email, setup.Body)
		done := b.postCode(email, "/account/mfa/totp", url.Values{"secret": {app.secret}})
		if done.Status != http.StatusOK || !strings.Contains(done.Body, `data-testid="recovery-codes"`) {
			b.t.Fatalf("setting up the app: %d", done.Status)
		}
		return done
	case "/login/second-factor":
		return b.postCode(email, "/login/second-factor", url.Values{})
	}
	return p
}

// signInFully signs in with the password and whatever second step follows.
func (b *browser) signInFully(email, pw string) page {
	b.t.Helper()
	return b.secondStep(email, b.login(email, pw))
}

// setUpApp sets up a phone app for the signed-in email from the account
// side (a provider choosing to, or a user moving to a new phone).
func (b *browser) setUpApp(email string) {
	b.t.Helper()
	setup := b.get("/account/mfa/totp")
	if setup.Status != http.StatusOK {
		b.t.Fatalf("set-up page for %s: %d", email, setup.Status)
	}
	app := b.s.addApp(email, setup.Body)
	if p := b.postCode(email, "/account/mfa/totp", url.Values{"secret": {app.secret}}); p.Status != http.StatusOK {
		b.t.Fatalf("setting up the app of %s: %d", email, p.Status)
	}
}
