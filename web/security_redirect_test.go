package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
)

// offSite are return paths that would send the browser elsewhere, or run
// script, if taken as they are: protocol-relative, absolute, the
// backslash forms browsers read as "//", an encoded "//", a scheme without
// slashes, and dot segments that clean into "//". The first seven are
// issue 13's list.
var offSite = []string{
	"//evil.example", "https://evil.example", "/\\evil.example", "\\\\evil.example", "%2F%2Fevil.example", "/%2F%2Fevil.example",
	"javascript:alert(1)", "http:evil.example", "///evil.example", "/.//evil.example", "/..//evil.example", "/\t/evil.example",
	" //evil.example", "/%09/evil.example", "/%5Cevil.example",
}

// staysOnSite reports whether a browser at base that follows Location loc
// stays on the site: a path on it, never another host or a script URL.
// Backslashes are refused outright, since browsers read them as slashes.
func staysOnSite(base *url.URL, loc string) bool {
	if loc == "" || strings.ContainsAny(loc, "\\\r\n\t") || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return false
	}
	u, err := url.Parse(loc)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return false
	}
	r := base.ResolveReference(u)
	return r.Scheme == base.Scheme && r.Host == base.Host
}

var hiddenNext = regexp.MustCompile(`name="next" value="([^"]*)"`)

// TestSecurityNoOpenRedirectFromAnyReturnParameter tries every way a
// return path reaches the portal with each off-site form above: next on
// the sign-in page (signed out: carried in the form; signed in: followed
// at once), next of the sign-in post, next of the admin re-authentication
// page and post, the page a registration link was made for, and the
// return path the portal itself records when a signed-out visitor opens a
// page. Every Location must be a path on the site, and no form may carry
// an off-site value on. (The handlers have no other redirect built from
// input and none from Referer.) The existing TestNoOpenRedirectAfterLogin
// covers four values on the sign-in post.
func TestSecurityNoOpenRedirectFromAnyReturnParameter(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000"})
	base, _ := url.Parse(s.URL)
	ctx := context.Background()
	_, adminB := s.admin("admin@plan.example")
	s.staffIn("rep@plan.example", "Rep", "LA")
	rep := s.signedIn("rep@plan.example")
	// The sign-in posts are a provider's, with no second step, so that
	// next is followed at once (TestSecondStepKeepsNextOnSite covers next
	// carried through the second step).
	s.provider("dr.next@clinic.example")

	check := func(what string, p page) {
		t.Helper()
		if p.Status >= 300 && p.Status < 400 && !staysOnSite(base, p.Location) {
			t.Errorf("%s: %d to %q, off the site", what, p.Status, p.Location)
		}
		if strings.Contains(p.Header.Get("Refresh"), "evil") {
			t.Errorf("%s: Refresh header %q", what, p.Header.Get("Refresh"))
		}
		for _, m := range hiddenNext.FindAllStringSubmatch(p.Body, -1) {
			if v := htmlUnescape(m[1]); v != "" && !staysOnSite(base, v) {
				t.Errorf("%s: the form carries next=%q on", what, v)
			}
		}
	}
	// Each form on its own goroutine, a few at a time: the sign-ins are
	// argon2id verifications.
	var redirects atomic.Int64
	var wg sync.WaitGroup
	slots := make(chan struct{}, 4)
	for i, next := range offSite {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			q := "?" + url.Values{"next": {next}}.Encode()
			check("GET /login (signed out) next="+next, s.browser().get("/login"+q))
			p := rep.get("/login" + q)
			must(t, "signed in: /login redirects at once", p.Status == http.StatusSeeOther)
			check("GET /login (signed in) next="+next, p)
			p = s.browser().post("/login", url.Values{"email": {"dr.next@clinic.example"}, "password": {goodPassword}, "next": {next}})
			must(t, "sign-in with next="+next+" goes through", p.Status == http.StatusSeeOther)
			check("POST /login next="+next, p)
			check("GET /admin/reauth next="+next, adminB.get("/admin/reauth"+q))
			p = adminB.postCode("admin@plan.example", "/admin/reauth", url.Values{"password": {goodPassword}, "next": {next}})
			must(t, "re-authentication with next="+next+" goes through", p.Status == http.StatusSeeOther)
			check("POST /admin/reauth next="+next, p)
			check("POST /admin/reauth (no password) next="+next, adminB.post("/admin/reauth", url.Values{"password": {""}, "next": {next}}))
			redirects.Add(3)
			if i >= 7 {
				return
			}
			// A registration link made for that page (a pending account's
			// first message names its thread this way), for the forms
			// issue 13 names.
			email := fmt.Sprintf("new%d@clinic.example", i)
			if _, err := s.app.Accounts.CreateUser(ctx, email, "", accounts.RoleProvider, "", 0, next); err != nil {
				t.Error(err)
				return
			}
			_, link := s.mailTo(email, "registration", "/register/")
			p = s.browser().register(link, "Dr. New", goodPassword)
			must(t, "registration with next="+next+" goes through", p.Status == http.StatusSeeOther)
			check("registration link made for "+next, p)
			redirects.Add(1)
		})
	}
	wg.Wait()

	// The return path the portal records for a signed-out visitor, with
	// the off-site forms in the path and query of the page asked for.
	for _, path := range []string{"/attachments/%2F%2Fevil.example", "/account?x=//evil.example", "/staff/threads/..%2F..%2F%2Fevil.example", "/inbox/"} {
		b := s.browser()
		p := b.get(path)
		check("GET "+path+" signed out", p)
		if p.Status != http.StatusSeeOther {
			continue
		}
		login, _ := url.Parse(p.Location)
		next := login.Query().Get("next")
		p = b.post("/login", url.Values{"email": {"dr.next@clinic.example"}, "password": {goodPassword}, "next": {next}})
		check("sign-in after "+path, p)
		redirects.Add(1)
	}
	t.Logf("%d off-site forms, %d redirects checked", len(offSite), redirects.Load())

	// The control: a local path is honoured, so the refusals above are the
	// check's doing.
	p := s.browser().post("/login", url.Values{"email": {"dr.next@clinic.example"}, "password": {goodPassword}, "next": {"/account"}})
	must(t, "a local next is followed: "+p.Location, p.Location == "/account")
	m := hiddenNext.FindStringSubmatch(s.browser().get("/login?next=%2Faccount").Body)
	must(t, "the sign-in form carries a local next on", m != nil && m[1] == "/account")
	must(t, "the checker refuses what it must", !staysOnSite(base, "//evil.example") && !staysOnSite(base, "/\\evil.example") && staysOnSite(base, "/account"))
}
