package web_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The issue 13 security suite (security_*_test.go) attacks the real portal
// through HTTP. Most of its tests start from the same world, each its own
// copy: every role, two teams,
// a thread in each with files from both sides, an admin holding emergency
// access to one of the two threads, and live emailed links of both kinds,
// so that every id-bearing route has a real object of someone else's to be
// tried with.
//
// Each test has its own site and database, so all but the one that
// measures time run in parallel (after the package's sequential tests):
// the suite sends a few thousand requests, and the web package runs under
// -race in CI.

// secWorld is that world.
type secWorld struct {
	*site
	t *testing.T

	admin, admin2, staffX, mateX, staffY, provA, provB accounts.User
	// target is an account no browser uses, for admin actions on it.
	target       accounts.User
	teamX, teamY int64
	// threadA is staff X (team X) with provider A, threadB staff Y (team Y)
	// with provider B. msgA is staff X's first message in threadA.
	threadA, threadB, msgA string
	// attA is staff X's file in threadA, attAProv provider A's, attB staff
	// Y's file in threadB.
	attA, attAProv, attB string
	// Live emailed links: a pending provider's registration and an active
	// provider's password reset (the raw tokens).
	regToken, resetToken     string
	pendingEmail, resetEmail string
	// portalDomain has the "portal" delivery policy: checking it needs no
	// network.
	portalDomain string
	// passkeyA is provider A's passkey (a stored record: the pages that
	// list and remove it never run a ceremony on it).
	passkeyA string
	// replyX is a saved reply of team X.
	replyX string
	// Provider A's practice has provider A as its mailbox and admin, the
	// target account as a member (memberA), and an invitation (inviteA)
	// waiting for the reset account.
	inviteA, memberA string

	as map[string]*browser // signed-in browsers by actor name
}

const (
	secAdmin  = "admin"  // holds emergency access to threadB only
	secAdmin2 = "admin2" // held emergency access to threadA; it expired
	secStaffX = "staffX" // team X; sent threadA
	secMateX  = "mateX"  // team X; sees threadA, sent nothing in it
	secStaffY = "staffY" // team Y; sent threadB
	secProvA  = "provA"  // threadA
	secProvB  = "provB"  // threadB
	secNobody = "anonymous"
	secInputs = "inputs" // a provider whose wrong current passwords lock nobody else out

	secInputsEmail = "inputs@clinic-e.example"
	missingUID     = "5b0e8f5e-3c2a-4d7b-9a61-0c1d2e3f4a5b" // a well-formed id of nothing
	missingNum     = "987654321"
)

// newSecWorld builds the world on a new site (the doors' rate limit out of
// the way: the suite signs in often from one address).
func newSecWorld(t *testing.T) *secWorld {
	t.Helper()
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000", "PORTAL_BASE_URL": siteOnLocalhost})
	ctx := context.Background()
	w := &secWorld{site: s, t: t, as: map[string]*browser{}, portalDomain: "webmail.example"}
	// The first account is made as the console makes them; the others get
	// its password hash through the store (one argon2id hash, not nine:
	// the web package runs under -race).
	first, err := s.app.Accounts.CreateUser(ctx, "admin@plan.example", "Ada Admin", accounts.RoleAdmin, goodPassword, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewAccountStore(s.app.Pool, nil, nil)
	create := func(email, name string, role accounts.Role) accounts.User {
		u, err := store.CreateUser(ctx, accounts.NewUser{Email: email, DisplayName: name, Role: role, PasswordHash: first.PasswordHash},
			audit.Event{Action: audit.UserCreated, TargetType: "user"}, func(accounts.User) []accounts.Job { return nil })
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	member := func(u accounts.User, team string) int64 {
		id, err := postgres.EnsureTeam(ctx, s.app.Pool, team, "Cal MediConnect")
		if err == nil {
			err = postgres.AddTeamMember(ctx, s.app.Pool, id, u.ID)
		}
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	w.admin = first
	w.admin2 = create("admin2@plan.example", "Bo Admin", accounts.RoleAdmin)
	w.staffX = create("rep.x@plan.example", "Xena Rep", accounts.RoleStaff)
	w.mateX = create("mate.x@plan.example", "Max Mate", accounts.RoleStaff)
	w.staffY = create("rep.y@plan.example", "Yuri Rep", accounts.RoleStaff)
	w.teamX, w.teamY = member(w.staffX, "Team X"), member(w.staffY, "Team Y")
	member(w.mateX, "Team X")
	w.provA = create("dr.a@clinic-a.example", "Dr. Alma A", accounts.RoleProvider)
	w.provB = create("dr.b@clinic-b.example", "Dr. Ben B", accounts.RoleProvider)
	create(secInputsEmail, "Dr. Inputs", accounts.RoleProvider)
	create("reset@clinic-d.example", "Dr. Reset", accounts.RoleProvider)
	w.target = create("target@clinic-f.example", "Dr. Target", accounts.RoleProvider)
	// The sign-ins at once: each is an argon2id verification.
	var mu sync.Mutex
	var wg sync.WaitGroup
	status := map[string]int{}
	for name, email := range map[string]string{secAdmin: "admin@plan.example", secAdmin2: "admin2@plan.example",
		secStaffX: "rep.x@plan.example", secMateX: "mate.x@plan.example", secStaffY: "rep.y@plan.example",
		secProvA: "dr.a@clinic-a.example", secProvB: "dr.b@clinic-b.example", secInputs: secInputsEmail} {
		b := s.browser()
		wg.Go(func() {
			p := b.signInFully(email, goodPassword)
			mu.Lock()
			defer mu.Unlock()
			w.as[name], status[name] = b, p.Status
		})
	}
	wg.Wait()
	for name, st := range status {
		if st != http.StatusSeeOther && st != http.StatusOK { // 200: the recovery codes after setting up the app
			t.Fatalf("setup: sign-in of %s: %d", name, st)
		}
	}
	w.as[secNobody] = s.browser()
	// A provider who chose the code step (the pages to turn it off).
	w.as[secInputs].setUpApp(secInputsEmail)
	if err := s.app.Pool.QueryRow(ctx, `INSERT INTO passkeys (user_id, credential_id, name, record) VALUES ($1, '\x0102', 'Office computer', '{}')
		RETURNING id::text`, w.provA.ID).Scan(&w.passkeyA); err != nil {
		t.Fatal(err)
	}

	p := w.as[secStaffX].postMessage("/staff/compose", url.Values{"to": {"dr.a@clinic-a.example"}, "subject": {"Prior authorization A"},
		"body": {"Approved for A."}}, file{"auth-a.pdf", []byte("%PDF-1.7 for A")})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("setup: staff X compose: %d", p.Status)
	}
	w.threadA = threadID(t, p.Location)
	p = w.as[secProvA].postMessage("/threads/"+w.threadA+"/reply", url.Values{"body": {"Thanks, consent attached."}},
		file{"consent-a.txt", []byte("signed by A")})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("setup: provider A reply: %d", p.Status)
	}
	p = w.as[secStaffY].postMessage("/staff/compose", url.Values{"to": {"dr.b@clinic-b.example"}, "subject": {"Lab results B"},
		"body": {"Results for B."}}, file{"lab-b.pdf", []byte("%PDF-1.7 for B")})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("setup: staff Y compose: %d", p.Status)
	}
	w.threadB = threadID(t, p.Location)
	if p := w.as[secStaffX].post("/staff/replies", url.Values{"team": {fmt.Sprint(w.teamX)}, "title": {"Received"}, "body": {"We received it."}}); p.Status != http.StatusSeeOther {
		t.Fatalf("setup: saved reply: %d", p.Status)
	}
	w.replyX = w.queryString(`SELECT id::text FROM saved_replies WHERE team_id = $1`, w.teamX)
	w.msgA = w.queryString(`SELECT id::text FROM messages WHERE thread_id = $1 AND sender_id = $2`, w.threadA, w.staffX.ID)
	attachmentOf := func(thread string, sender int64) string {
		return w.queryString(`SELECT a.id::text FROM attachments a JOIN messages m ON m.id = a.message_id WHERE m.thread_id = $1 AND m.sender_id = $2`, thread, sender)
	}
	w.attA, w.attAProv, w.attB = attachmentOf(w.threadA, w.staffX.ID), attachmentOf(w.threadA, w.provA.ID), attachmentOf(w.threadB, w.staffY.ID)

	// Emergency access: admin to threadB (live), admin2 to threadA (expired).
	for _, g := range []struct {
		who, thread string
	}{{secAdmin, w.threadB}, {secAdmin2, w.threadA}} {
		p := w.as[g.who].post("/admin/emergency", url.Values{"thread": {g.thread}, "reason": {"Member in ER, physician unreachable"}, "duration": {"1h0m0s"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("setup: emergency grant for %s: %d", g.who, p.Status)
		}
	}
	if _, err := s.app.Pool.Exec(ctx, `UPDATE emergency_access SET granted_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE admin_id = $1`, w.admin2.ID); err != nil {
		t.Fatal(err)
	}
	if p := w.as[secAdmin].post("/admin/domains", url.Values{"domain": {w.portalDomain}, "policy": {"portal"}, "reason": {"Consumer mail"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("setup: domain policy: %d", p.Status)
	}

	if p := w.as[secProvA].post("/practice", url.Values{"name": {"Clinic A"}, "npi": {validNPI(1)}, "county": {"Los Angeles"}, "line_of_business": {"Medi-Cal"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("setup: practice A: %d", p.Status)
	}
	if p := w.as[secProvA].post("/practice/invites", url.Values{"email": {"reset@clinic-d.example"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("setup: practice A's invitation: %d", p.Status)
	}
	w.inviteA = w.queryString(`SELECT id::text FROM practice_invites`)
	if _, err := s.app.Pool.Exec(ctx, `INSERT INTO practice_members (user_id, practice_id, role) SELECT $1, id, 'member' FROM practices`, w.target.ID); err != nil {
		t.Fatal(err)
	}
	w.memberA = fmt.Sprint(w.target.ID)

	w.pendingEmail, w.resetEmail = "pending@clinic-c.example", "reset@clinic-d.example"
	w.regToken = strings.TrimPrefix(s.invite(w.pendingEmail, ""), "/register/")
	s.browser().post("/forgot-password", url.Values{"email": {w.resetEmail}})
	_, link := s.mailTo(w.resetEmail, "Reset your", "/reset-password/")
	w.resetToken = strings.TrimPrefix(link, "/reset-password/")
	settle(t, s)
	return w
}

// queryString is the one text value query q selects.
func (s *site) queryString(q string, args ...any) string {
	s.t.Helper()
	var v string
	if err := s.app.Pool.QueryRow(context.Background(), q, args...).Scan(&v); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return v
}

// count is the number query q selects.
func (s *site) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.app.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// randomToken is a well-formed link token (256 bits, base64url) that no
// email ever carried.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// routeTable is every route of the portal's route table as "METHOD
// pattern", the way chi.Walk lists it (HEAD is served wherever GET is).
func routeTable(t *testing.T, s *site) []string {
	t.Helper()
	var routes []string
	err := chi.Walk(s.app.Web.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

// checkCovered fails the test for every route of the table a test has no
// case for, and for every case whose route is gone: a new route must be
// thought about, not skipped.
func checkCovered(t *testing.T, what string, routes []string, cases []string) {
	t.Helper()
	if missing := without(routes, cases); len(missing) > 0 {
		t.Errorf("%s: routes without a case (add one): %v", what, missing)
	}
	if stale := without(cases, routes); len(stale) > 0 {
		t.Errorf("%s: cases for routes no longer in the table: %v", what, stale)
	}
}

// normalized is a page's body with what legitimately differs between two
// answers replaced: the request id (shown as the reference on error pages)
// and the given path parameters (ids and tokens long enough not to match
// by chance, such as an asset's hash).
func normalized(p page, params ...string) string {
	body := p.Body
	if id := p.Header.Get("X-Request-Id"); id != "" {
		body = strings.ReplaceAll(body, id, "REQUEST-ID")
	}
	for _, v := range params {
		if len(v) >= 16 {
			body = strings.ReplaceAll(body, v, "PARAM")
		}
	}
	return body
}

// leakPattern finds what an error page must never show: a Go stack or
// panic, a source position, the database driver or its errors.
var leakPattern = regexp.MustCompile(`(?i)goroutine \d|goroutine |\.go:\d|\.go:|pgx|pgconn|sqlstate|syntax error|panic|runtime error|invalid input syntax|violates|duplicate key|pq: |postgres(ql)?:`)

// randomKey is random text a page rightly shows, in which "pgx" or
// "panic" may occur by chance: the set-up page's authenticator key (as
// text and in the form), the token of an emailed link in a form's URL, and
// a passkey ceremony's challenge (base64url: "PGX" came up once).
var randomKey = regexp.MustCompile(`data-testid="totp-secret">[^<]*<|name="secret" value="[^"]*"|/(register|reset-password)/[A-Za-z0-9_-]+|"challenge":"[A-Za-z0-9_-]*"`)

func leaks(body string) string {
	return leakPattern.FindString(randomKey.ReplaceAllString(body, ""))
}

// stateWithout is storedState without the tables named (a signed-in
// request writes its session back; reading is recorded by design).
func stateWithout(t *testing.T, s *site, tables ...string) map[string]string {
	t.Helper()
	st := storedState(t, s)
	for _, table := range tables {
		delete(st, table)
	}
	return st
}

func fmtState(before, after map[string]string) string {
	return fmt.Sprint(changedTables(before, after))
}
