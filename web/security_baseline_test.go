package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/healthnet/secureportal/internal/accounts"
)

// One test per line of DESIGN.md §6 that can be probed from outside and
// that no other test probes that way (the map of §6 to tests is in
// docs/SECURITY.md and in issue 13's note).

// readingRecords are what a GET may add by design (SECURITY.md, CSRF):
// read receipts, and the audit events of reading, downloading, emergency
// reading and exporting the audit log.
var readingRecords = []string{"message.read", "message.downloaded", "admin.emergency_access", "admin.audit_exported"}

// TestSecurityGETChangesNothingAndEveryPageIsNoStore is §6 "No state
// change on GET" and "Cache-Control: no-store on every authenticated page
// and download": every GET route of the table (and HEAD) is asked for as
// a user of its role with real ids, objects and live emailed links, and
// answers with the page (2xx or a redirect), no-store and the CSP; after
// each, nothing stored has changed but the session, read receipts and
// the audit events of reading. A live link shown is not used up.
// TestEveryRouteSendsTheSecurityHeaders covers the headers for made-up
// ids (404s); this covers the real pages of every role.
func TestSecurityGETChangesNothingAndEveryPageIsNoStore(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	table := w.inputRoutes()
	ctx := context.Background()
	gets := 0
	for _, route := range servedRoutes(t, w.site) {
		r, ok := table[route]
		if !ok || !strings.HasPrefix(route, "GET ") {
			continue
		}
		path := r.path
		if q := r.base().Encode(); q != "" {
			path += "?" + q
		}
		b := w.actor(r.actor)
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			settle(t, w.site)
			before := stateWithout(t, w.site, "sessions", "message_reads", "audit_events")
			var lastEvent int64
			w.app.Pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM audit_events`).Scan(&lastEvent)
			p := b.do(method, path, nil, nil)
			label := fmt.Sprintf("%s %s as %s", method, path, r.actor)
			if p.Status >= 400 && !(route == "GET /static/*" && p.Status == http.StatusNotFound) {
				t.Errorf("%s: %d (the walk must reach the real page)", label, p.Status)
			}
			if !strings.HasPrefix(route, "GET /static/") {
				if p.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(p.Header.Get("Content-Security-Policy"), "default-src 'self'") &&
					!strings.HasPrefix(p.Header.Get("Content-Security-Policy"), "sandbox") {
					t.Errorf("%s (%d): Cache-Control %q, CSP %q", label, p.Status, p.Header.Get("Cache-Control"), p.Header.Get("Content-Security-Policy"))
				}
			}
			settle(t, w.site)
			if after := stateWithout(t, w.site, "sessions", "message_reads", "audit_events"); fmtState(before, after) != "[]" {
				t.Errorf("%s changed %s", label, fmtState(before, after))
			}
			rows, err := w.app.Pool.Query(ctx, `SELECT action FROM audit_events WHERE id > $1`, lastEvent)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var action string
				rows.Scan(&action)
				if !slices.Contains(readingRecords, action) {
					t.Errorf("%s recorded %q, which is not reading", label, action)
				}
			}
			gets++
		}
	}
	must(t, "the live registration link was not used up by showing it", w.browser().get("/register/"+w.regToken).Status == http.StatusOK)
	must(t, "the live reset link was not used up by showing it", w.browser().get("/reset-password/"+w.resetToken).Status == http.StatusOK)
	t.Logf("%d GET and HEAD requests", gets)
	must(t, fmt.Sprintf("walked the GET routes (%d requests)", gets), gets >= 70)
}

// TestSecurityEveryEmailedLinkAnswerSendsNoReferrer is §6 "Referrer-Policy
// (no-referrer on token pages)" for every answer of every {token} route:
// the form, its refusals (422), an unknown, used or expired link (410),
// the new-link answer and the redirect after success. The journey test
// checks the two forms only.
func TestSecurityEveryEmailedLinkAnswerSendsNoReferrer(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000"})
	reg := s.invite("new@clinic.example", "")
	s.provider("dr@clinic.example")
	s.browser().post("/forgot-password", url.Values{"email": {"dr@clinic.example"}})
	_, reset := s.mailTo("dr@clinic.example", "Reset your", "/reset-password/")
	const newPassword = "violet harbour lanterns sway gently"
	b := s.browser()
	answers := []struct {
		what string
		p    page
	}{
		{"registration form", b.get(reg)},
		{"registration refused (422)", b.register(reg, "Dr. New", "short")},
		{"unknown registration link (410)", b.get("/register/" + randomToken())},
		{"unknown registration link posted (410)", b.register("/register/"+randomToken(), "Dr. New", newPassword)},
		{"new link asked (410)", b.post("/register/"+randomToken()+"/new-link", url.Values{})},
		{"reset form", b.get(reset)},
		{"reset refused (422)", b.post(reset, url.Values{"password": {"short"}, "password_confirm": {"short"}})},
		{"unknown reset link (410)", b.get("/reset-password/" + randomToken())},
		{"unknown reset link posted (410)", b.post("/reset-password/"+randomToken(), url.Values{"password": {newPassword}, "password_confirm": {newPassword}})},
		{"registration done (303)", b.register(reg, "Dr. New", goodPassword)},
		{"used registration link (410)", s.browser().get(reg)},
		{"reset done (303)", s.browser().post(reset, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})},
		{"used reset link (410)", s.browser().get(reset)},
	}
	for _, a := range answers {
		if got := a.p.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s (%d): Referrer-Policy %q", a.what, a.p.Status, got)
		}
	}
	must(t, "the link answers include success and refusals", answers[9].p.Status == http.StatusSeeOther && answers[11].p.Status == http.StatusSeeOther &&
		answers[2].p.Status == http.StatusGone && answers[1].p.Status == http.StatusUnprocessableEntity)
	// Elsewhere the site sends the origin only within itself.
	p := s.browser().get("/login")
	must(t, "other pages keep the referrer on the site: "+p.Header.Get("Referrer-Policy"),
		p.Header.Get("Referrer-Policy") == "" || p.Header.Get("Referrer-Policy") == "same-origin" || p.Header.Get("Referrer-Policy") == "no-referrer" ||
			p.Header.Get("Referrer-Policy") == "strict-origin-when-cross-origin")
}

// TestSecurityUnknownAccountSignInCostsAHashLikeAKnownOne is §6 "similar
// timing for unknown user / wrong password / locked (hash a dummy when the
// user is unknown)": the fastest of five failed sign-ins for an unknown
// address, a pending account (no password yet) and a disabled one takes
// at least half as long as the fastest wrong password for a real account.
// Without the dummy hash the unknown address answers in a database round
// trip, a tenth or less of an argon2id verification; the fastest of
// several is what the work costs, not what a busy machine added to it.
func TestSecurityUnknownAccountSignInCostsAHashLikeAKnownOne(t *testing.T) {
	// Not parallel: it measures time, and runs before the parallel tests.
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000", "PORTAL_LOCKOUT_THRESHOLD": "1000"})
	ctx := context.Background()
	s.provider("known@clinic.example")
	s.app.Accounts.CreateUser(ctx, "pending@clinic.example", "", accounts.RoleProvider, "", 0, "")
	off := s.provider("off@clinic.example")
	s.app.Pool.Exec(ctx, `UPDATE users SET status = 'disabled' WHERE id = $1`, off.ID)
	b := s.browser()
	b.login("known@clinic.example", "warm-up attempt here") // first hash, pools and caches
	times := map[string][]time.Duration{}
	for range 5 {
		for _, email := range []string{"known@clinic.example", "nobody@clinic.example", "pending@clinic.example", "off@clinic.example"} {
			start := time.Now()
			p := b.login(email, "a wrong password entirely")
			times[email] = append(times[email], time.Since(start))
			must(t, "failed sign-in is 401 for "+email, p.Status == http.StatusUnauthorized)
		}
	}
	known := slices.Min(times["known@clinic.example"])
	for _, email := range []string{"nobody@clinic.example", "pending@clinic.example", "off@clinic.example"} {
		m := slices.Min(times[email])
		t.Logf("%s: fastest %v (known account, wrong password: %v)", email, m, known)
		if m < known/2 {
			t.Errorf("a failed sign-in for %s takes %v, a wrong password for a real account %v: the difference tells which accounts exist", email, m, known)
		}
	}
}

// TestSecurityHashesAreArgon2idAndUpgradedAtSignIn is §6 "argon2id (at
// least m=19 MiB, t=2, p=1; PHC string with parameters, rehash on login
// when they change)": a password set through the registration page is
// stored as such a PHC string; a hash made with other parameters is
// replaced at the next sign-in through the page, audited, and the
// password still works.
func TestSecurityHashesAreArgon2idAndUpgradedAtSignIn(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, nil)
	ctx := context.Background()
	link := s.invite("new@clinic.example", "")
	s.browser().register(link, "Dr. New", goodPassword)
	var phc string
	s.app.Pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE email = 'new@clinic.example'`).Scan(&phc)
	var m, tm, p int
	_, err := fmt.Sscanf(phc, "$argon2id$v=19$m=%d,t=%d,p=%d$", &m, &tm, &p)
	must(t, fmt.Sprintf("stored as an argon2id PHC string with m>=19456, t>=2, p>=1: %.40q (%v)", phc, err), err == nil && m >= 19456 && tm >= 2 && p >= 1)

	// An older hash (t=3): same password, other parameters.
	salt := make([]byte, 16)
	rand.Read(salt)
	key := argon2.IDKey([]byte(goodPassword), salt, 3, 19456, 1, 32)
	old := fmt.Sprintf("$argon2id$v=19$m=19456,t=3,p=1$%s$%s", base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	s.app.Pool.Exec(ctx, `UPDATE users SET password_hash = $1 WHERE email = 'new@clinic.example'`, old)
	must(t, "sign-in with the old hash", s.browser().login("new@clinic.example", goodPassword).Status == http.StatusSeeOther)
	var now string
	var rehashed int
	s.app.Pool.QueryRow(ctx, `SELECT password_hash FROM users WHERE email = 'new@clinic.example'`).Scan(&now)
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'password.rehashed'`).Scan(&rehashed)
	must(t, fmt.Sprintf("the hash was upgraded at sign-in: %.40q", now), now != old && strings.HasPrefix(now, fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$", m, tm, p)))
	must(t, "the upgrade is audited", rehashed == 1)
	must(t, "the password still works", s.browser().login("new@clinic.example", goodPassword).Status == http.StatusSeeOther)
}

// TestSecurityLongPassphrasesWorkWholeWithoutCompositionRules is §6 "at
// least 15 characters …, at least 64 allowed, no composition rules":
// through the registration and sign-in pages, a 15-character passphrase
// of lowercase letters and spaces is accepted, a 14-character one is not,
// and a 200-character one is used whole (a password differing only in
// its last character, or cut at 72 bytes as bcrypt would, is refused).
// The password package's tests cover the rules; this is the pages.
func TestSecurityLongPassphrasesWorkWholeWithoutCompositionRules(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000"})
	short := s.invite("short@clinic.example", "")
	must(t, "14 characters refused", s.browser().register(short, "Dr. Short", "lantern garden").Status == http.StatusUnprocessableEntity)
	must(t, "15 lowercase letters and spaces accepted", s.browser().register(short, "Dr. Short", "lanterns garden").Status == http.StatusSeeOther)

	long := strings.Repeat("quiet orchards glow ", 10) // 200 characters
	link := s.invite("long@clinic.example", "")
	must(t, "a 200-character passphrase accepted", s.browser().register(link, "Dr. Long", long).Status == http.StatusSeeOther)
	must(t, "it signs in", s.browser().login("long@clinic.example", long).Status == http.StatusSeeOther)
	for name, pw := range map[string]string{"last character changed": long[:199] + "X", "cut at 72 bytes": long[:72], "cut at 64": long[:64]} {
		must(t, "refused: "+name, s.browser().login("long@clinic.example", pw).Status == http.StatusUnauthorized)
	}
}

// TestSecurityForgedForwardedForDoesNotEscapeTheDoorLimit is §6 "per-client-IP
// rate limits; client IP only from configured trusted proxies", through
// the real doors: with no proxy trusted, a client that sends a new
// X-Forwarded-For each time is still one client and is limited; behind a
// trusted proxy the header does tell clients apart (the control).
// TestClientIPTrustsOnlyConfiguredProxies covers the address function.
func TestSecurityForgedForwardedForDoesNotEscapeTheDoorLimit(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	door := func(s *site, xff string) int {
		return s.browser().do(http.MethodPost, "/forgot-password", url.Values{"email": {"x@clinic.example"}},
			http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Forwarded-For": {xff}}).Status
	}
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "3"})
	var got []int
	for i := range 5 {
		got = append(got, door(s, fmt.Sprintf("198.51.100.%d", i+1)))
	}
	must(t, fmt.Sprintf("a forged X-Forwarded-For per request is still limited: %v", got), got[3] == http.StatusTooManyRequests && got[4] == http.StatusTooManyRequests)

	proxied := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "3", "PORTAL_TRUSTED_PROXIES": "127.0.0.0/8"})
	got = nil
	for i := range 5 {
		got = append(got, door(proxied, fmt.Sprintf("198.51.100.%d", i+1)))
	}
	must(t, fmt.Sprintf("behind a trusted proxy, each client has its own allowance: %v", got), !slices.Contains(got, http.StatusTooManyRequests))
	for range 3 {
		door(proxied, "203.0.113.7")
	}
	must(t, "…and one client behind it is limited", door(proxied, "203.0.113.7") == http.StatusTooManyRequests)
}

// TestSecuritySignOutEndsTheSessionOnTheServer is §6 "RenewToken on …
// logout": a copy of the session cookie taken before signing out no
// longer signs anyone in, and its session is gone from the store.
// TestSessionFixationIsPrevented covers sign-in.
func TestSecuritySignOutEndsTheSessionOnTheServer(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, nil)
	s.provider("dr@clinic.example")
	base, _ := url.Parse(s.URL)
	b := s.signedIn("dr@clinic.example")
	stolen := sessionCookie(b, base)
	must(t, "signed in", stolen != "" && b.get("/account").Status == http.StatusOK)
	var before, after int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&before)
	must(t, "sign-out", b.post("/logout", url.Values{}).Status == http.StatusSeeOther)
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions`).Scan(&after)
	replay := s.browser()
	replay.c.Jar.SetCookies(base, []*http.Cookie{{Name: "session", Value: stolen}})
	p := replay.get("/account")
	must(t, fmt.Sprintf("the old cookie no longer signs in: %d %s", p.Status, p.Location), p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	must(t, fmt.Sprintf("the session left the store (%d → %d)", before, after), after < before)
}

// TestSecurityResetLinkExpiresAfterItsLifetimeWithAWayForward is §6
// "short-lived (reset 30 min …) … an expired link leads to 'send me a new
// link', never to a dead end", for reset links through the pages
// (TestLinksAreNewestOnlyAndExpire covers registration links): the link
// works at 29 minutes, not at 31 (410, neither its form nor its post), its
// page offers a new link, and that way forward works.
func TestSecurityResetLinkExpiresAfterItsLifetimeWithAWayForward(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000"})
	s.provider("dr@clinic.example")
	s.browser().post("/forgot-password", url.Values{"email": {"dr@clinic.example"}})
	_, link := s.mailTo("dr@clinic.example", "Reset your", "/reset-password/")
	s.clock.Advance(29 * time.Minute)
	must(t, "the link works at 29 minutes", s.browser().get(link).Status == http.StatusOK)
	s.clock.Advance(2 * time.Minute)
	p := s.browser().get(link)
	must(t, fmt.Sprintf("the link is refused at 31 minutes: %d", p.Status), p.Status == http.StatusGone)
	contains(t, "expired reset link page", p.Body, "This link no longer works", `href="/forgot-password"`, "Send me a new link")
	const newPassword = "violet harbour lanterns sway gently"
	p = s.browser().post(link, url.Values{"password": {newPassword}, "password_confirm": {newPassword}})
	must(t, "an expired link cannot set a password", p.Status == http.StatusGone && s.browser().login("dr@clinic.example", newPassword).Status == http.StatusUnauthorized)
	s.browser().post("/forgot-password", url.Values{"email": {"dr@clinic.example"}})
	_, fresh := s.mailTo("dr@clinic.example", "Reset your", "/reset-password/")
	must(t, "the way forward gives a working link", fresh != link && s.browser().get(fresh).Status == http.StatusOK)
}

// TestSecurityLogsHoldNoMessageContent is §6 "Logs … never passwords,
// tokens, subjects, bodies or filenames", for the content of messages:
// after sending, replying, reading, downloading, withdrawing and reading
// under emergency access, and after refusals that show the values again
// (a refused file type, an empty body, a subject that is not text), no
// log line holds a subject, body, file name or file content.
// TestNoTokenOrPasswordInLogs covers passwords and link tokens.
func TestSecurityLogsHoldNoMessageContent(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	const (
		subj = "LOGMARK-SUBJECT-91c2"
		body = "LOGMARK-BODY-91c2"
		name = "LOGMARK-NAME-91c2"
		data = "LOGMARK-BYTES-91c2"
	)
	staff, prov := w.as[secStaffX], w.as[secProvA]
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr.a@clinic-a.example"}, "subject": {subj}, "body": {body}}, file{name + ".pdf", []byte(data)})
	tid := threadID(t, p.Location)
	prov.get("/threads/" + tid)
	page := prov.get("/threads/" + tid)
	prov.get(attachmentLinks(page.Body)[name+".pdf"])
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {body + " reply"}}, file{name + " reply.txt", []byte(data)})
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {body}}, file{name + ".exe", []byte("MZ" + data)})
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {" "}}, file{name + ".txt", []byte(data)})
	staff.postMessage("/staff/compose", url.Values{"to": {"dr.a@clinic-a.example"}, "subject": {subj + "\x01"}, "body": {body}})
	staff.postMessage("/staff/compose", url.Values{"to": {"not an address " + subj}, "subject": {subj}, "body": {body}})
	prov.postMessage("/compose", url.Values{"to": {"team:999999"}, "subject": {subj}, "body": {body}})
	w.as[secAdmin].post("/admin/emergency", url.Values{"thread": {tid}, "reason": {"Member in ER"}, "duration": {"1h0m0s"}})
	w.as[secAdmin].get("/admin/emergency/threads/" + tid)
	msg := w.queryString(`SELECT id::text FROM messages WHERE thread_id = $1 AND sender_id = $2`, tid, w.staffX.ID)
	staff.post("/staff/messages/"+msg+"/recall", url.Values{})
	settle(t, w.site)
	logs := w.logs.String()
	for _, mark := range []string{subj, body, name, data} {
		if i := strings.Index(logs, mark); i >= 0 {
			t.Errorf("the logs hold %q: %s", mark, excerpt(logs[max(0, i-300):]))
		}
	}
	must(t, "the journey ran (the thread has 2 messages)", w.count(`SELECT count(*) FROM messages WHERE thread_id = $1`, tid) == 2)
}
