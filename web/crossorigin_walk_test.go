package web_test

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
)

// The answer to the scanners' "lack of anti-CSRF token" (issue 13,
// docs/SECURITY.md): every unsafe route of the route table refuses a
// request a browser marks as cross-site (Sec-Fetch-Site: cross-site), and
// one from a foreign Origin when the browser sends no Fetch Metadata, with
// 403 and nothing stored, even from a signed-in user of the route's own
// role whose request, sent same-origin, goes through (the control).
//
// The walk finds the routes; each has a case below that makes the request
// real (a live thread, message, user, team or emailed link), so a new
// unsafe route without a case fails this test instead of going unchecked.
func TestEveryUnsafeRouteRefusesCrossOriginRequestsAndStoresNothing(t *testing.T) {
	// Many sign-ins below go through the doors' per-IP rate limit; the
	// limit sits behind the cross-origin check and is not what is tested.
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000", "PORTAL_BASE_URL": siteOnLocalhost})
	ctx := context.Background()

	const (
		adminEmail = "admin@plan.example"
		repEmail   = "rep@plan.example"
		drEmail    = "dr@clinic.example"
	)
	s.admin(adminEmail)
	rep, teamID := s.staffIn(repEmail, "Lena Ortiz", "Provider Services – Los Angeles County")
	s.provider(drEmail)
	// A thread between them, so that replies, compose to "my
	// representative" and emergency access have something real to act on.
	first := s.signedIn(repEmail).postMessage("/staff/compose",
		url.Values{"to": {drEmail}, "subject": {"Authorization"}, "body": {"Approved."}})
	if first.Status != http.StatusSeeOther {
		t.Fatalf("setup: staff compose: %d", first.Status)
	}
	tid := threadID(t, first.Location)

	// newStaffMessage is a fresh message from the representative (recall
	// destroys what it is given).
	newStaffMessage := func() string {
		p := s.signedIn(repEmail).postMessage("/staff/compose",
			url.Values{"to": {drEmail}, "subject": {"To withdraw"}, "body": {"Sent by mistake."}})
		var id string
		if err := s.app.Pool.QueryRow(ctx, `SELECT id::text FROM messages WHERE thread_id = $1`, threadID(t, p.Location)).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	createUser := func(email string, role accounts.Role) accounts.User {
		u, err := s.app.Accounts.CreateUser(ctx, email, "Someone", role, goodPassword, 0, "")
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	anonymous := func() *browser { return s.browser() }
	as := func(email string) func() *browser { return func() *browser { return s.signedIn(email) } }
	const newPassword = "violet harbour lanterns sway gently"

	// One case per unsafe route: who sends it, and what a successful
	// request carries. prepare runs before anything is counted.
	cases := map[string]func() xoRequest{
		"POST /login": func() xoRequest {
			return xoRequest{b: anonymous(), path: "/login", form: url.Values{"email": {drEmail}, "password": {goodPassword}}}
		},
		"POST /login/second-factor": func() xoRequest {
			createUser("second.step@plan.example", accounts.RoleStaff)
			s.signedIn("second.step@plan.example") // sets up the phone app
			b := anonymous()
			b.login("second.step@plan.example", goodPassword)
			return xoRequest{b: b, path: "/login/second-factor", form: url.Values{"code": {s.freshCode("second.step@plan.example")}}}
		},
		"POST /account/mfa/totp": func() xoRequest {
			createUser("sets.up@clinic.example", accounts.RoleProvider)
			b := as("sets.up@clinic.example")()
			app := s.addApp("sets.up@clinic.example", b.get("/account/mfa/totp").Body)
			return xoRequest{b: b, path: "/account/mfa/totp", form: url.Values{"secret": {app.secret}, "code": {s.freshCode("sets.up@clinic.example")}}, want: http.StatusOK}
		},
		"POST /account/mfa/recovery-codes": func() xoRequest {
			createUser("new.codes@plan.example", accounts.RoleStaff)
			b := as("new.codes@plan.example")()
			return xoRequest{b: b, path: "/account/mfa/recovery-codes", form: url.Values{"code": {s.freshCode("new.codes@plan.example")}}, want: http.StatusOK}
		},
		"POST /account/mfa/off": func() xoRequest {
			createUser("turns.off@clinic.example", accounts.RoleProvider)
			b := as("turns.off@clinic.example")()
			b.setUpApp("turns.off@clinic.example")
			return xoRequest{b: b, path: "/account/mfa/off", form: url.Values{"code": {s.freshCode("turns.off@clinic.example")}}}
		},
		"POST /account/passkeys/{id}/remove": func() xoRequest {
			u := createUser("passkey.owner@clinic.example", accounts.RoleProvider)
			var id string
			if err := s.app.Pool.QueryRow(ctx, `INSERT INTO passkeys (user_id, credential_id, name, record) VALUES ($1, '\x0a0b', 'Laptop', '{}')
				RETURNING id::text`, u.ID).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return xoRequest{b: as("passkey.owner@clinic.example")(), path: "/account/passkeys/" + id + "/remove", form: url.Values{"password": {goodPassword}}}
		},
		// The passkey ceremonies: begin answers options (the session keeps
		// the challenge; the first registration makes the user's handle);
		// finish, sent no ceremony's answer, is refused by the handler (400),
		// which the control shows it reached.
		"POST /webauthn/login/begin": func() xoRequest {
			return xoRequest{b: anonymous(), path: "/webauthn/login/begin", form: url.Values{}, want: http.StatusOK, storesNothing: true}
		},
		"POST /webauthn/login/finish": func() xoRequest {
			return xoRequest{b: anonymous(), path: "/webauthn/login/finish", form: url.Values{}, want: http.StatusBadRequest, storesNothing: true}
		},
		"POST /webauthn/register/begin": func() xoRequest {
			createUser("first.passkey@clinic.example", accounts.RoleProvider)
			return xoRequest{b: as("first.passkey@clinic.example")(), path: "/webauthn/register/begin", form: url.Values{}, want: http.StatusOK}
		},
		"POST /webauthn/register/finish": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/webauthn/register/finish", form: url.Values{}, want: http.StatusBadRequest, storesNothing: true}
		},
		"POST /logout": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/logout", form: url.Values{}}
		},
		"POST /forgot-password": func() xoRequest {
			return xoRequest{b: anonymous(), path: "/forgot-password", form: url.Values{"email": {drEmail}}, want: http.StatusOK}
		},
		"POST /register/{token}": func() xoRequest {
			link := s.invite("new.one@clinic.example", "")
			return xoRequest{b: anonymous(), path: link, form: url.Values{"name": {"Dr. New"}, "password": {goodPassword}, "password_confirm": {goodPassword}}}
		},
		"POST /register/{token}/new-link": func() xoRequest {
			link := s.invite("new.two@clinic.example", "")
			// The answer is the link page (410: this link is spent) saying a
			// new one is on its way.
			return xoRequest{b: anonymous(), path: link + "/new-link", form: url.Values{}, want: http.StatusGone}
		},
		"POST /reset-password/{token}": func() xoRequest {
			createUser("reset@clinic.example", accounts.RoleProvider)
			s.browser().post("/forgot-password", url.Values{"email": {"reset@clinic.example"}})
			_, link := s.mailTo("reset@clinic.example", "Reset your", "/reset-password/")
			return xoRequest{b: anonymous(), path: link, form: url.Values{"password": {newPassword}, "password_confirm": {newPassword}}}
		},
		"POST /account/password": func() xoRequest {
			createUser("password@clinic.example", accounts.RoleProvider)
			return xoRequest{b: as("password@clinic.example")(), path: "/account/password",
				form: url.Values{"current_password": {goodPassword}, "password": {newPassword}, "password_confirm": {newPassword}}}
		},
		"POST /session/keepalive": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/session/keepalive", form: url.Values{}, want: http.StatusNoContent, storesNothing: true} // the session only
		},
		"POST /account/profile": func() xoRequest {
			// English: the other cases check the refusal page in English, and a
			// saved language follows the account to every sign-in.
			return xoRequest{b: as(drEmail)(), path: "/account/profile", form: url.Values{"name": {"Dr. Shah"}, "practice": {"Harbor Pediatrics"}, "phone": {""}, "language": {"en"}}}
		},
		"POST /practice/": func() xoRequest {
			createUser("starts@clinic.example", accounts.RoleProvider)
			return xoRequest{b: as("starts@clinic.example")(), path: "/practice", form: url.Values{"name": {"Harbor Pediatrics"}, "npi": {validNPI(1)},
				"county": {"San Diego"}, "line_of_business": {"Medi-Cal"}}}
		},
		"POST /practice/invites": func() xoRequest {
			admin := s.practiceWithInvite("invites@clinic.example", "")
			return xoRequest{b: admin, path: "/practice/invites", form: url.Values{"email": {"colleague.new@clinic.example"}}}
		},
		"POST /practice/invites/{id}/accept": func() xoRequest {
			s.practiceWithInvite("accept.admin@clinic.example", "accepts@clinic.example")
			b := as("accepts@clinic.example")()
			return xoRequest{b: b, path: b.practiceAction("accept"), form: url.Values{}}
		},
		"POST /practice/invites/{id}/decline": func() xoRequest {
			s.practiceWithInvite("decline.admin@clinic.example", "declines@clinic.example")
			b := as("declines@clinic.example")()
			return xoRequest{b: b, path: b.practiceAction("decline"), form: url.Values{}}
		},
		"POST /practice/invites/{id}/withdraw": func() xoRequest {
			admin := s.practiceWithInvite("withdraw.admin@clinic.example", "withdrawn@clinic.example")
			return xoRequest{b: admin, path: admin.practiceAction("withdraw"), form: url.Values{}}
		},
		"POST /practice/members/{id}/remove": func() xoRequest {
			admin := s.practiceWithInvite("remove.admin@clinic.example", "removed@clinic.example")
			as("removed@clinic.example")().acceptInvite()
			return xoRequest{b: admin, path: admin.practiceAction("remove"), form: url.Values{}}
		},
		"POST /practice/leave": func() xoRequest {
			s.practiceWithInvite("leave.admin@clinic.example", "leaves@clinic.example")
			b := as("leaves@clinic.example")()
			b.acceptInvite()
			return xoRequest{b: b, path: "/practice/leave", form: url.Values{}}
		},
		"POST /account/away": func() xoRequest {
			day := time.Now().Format("2006-01-02")
			return xoRequest{b: as(repEmail)(), path: "/account/away", form: url.Values{"away_from": {day}, "away_until": {day}}}
		},
		"POST /account/sessions/end-others": func() xoRequest {
			s.signedIn(drEmail) // the other session it would end
			return xoRequest{b: as(drEmail)(), path: "/account/sessions/end-others", form: url.Values{}}
		},
		"POST /staff/threads/{id}/notes": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/" + tid + "/notes", form: url.Values{"note": {"Called the office."}}}
		},
		"POST /staff/threads/{id}/status": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/" + tid + "/status", form: url.Values{"status": {"done"}}}
		},
		"POST /staff/threads/{id}/assign": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/" + tid + "/assign", form: url.Values{"assignee": {""}}}
		},
		"POST /staff/providers/{id}/registration": func() xoRequest {
			b := as(repEmail)()
			b.postMessage("/staff/compose", url.Values{"to": {"not.yet@clinic.example"}, "subject": {"Welcome"}, "body": {"Hello."}})
			var id int64
			if err := s.app.Pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'not.yet@clinic.example'`).Scan(&id); err != nil {
				t.Fatal(err)
			}
			return xoRequest{b: b, path: fmt.Sprintf("/staff/providers/%d/registration", id), form: url.Values{}}
		},
		"POST /staff/replies": func() xoRequest {
			b := as(repEmail)()
			team := regexp.MustCompile(`name="team" value="(\d+)"`).FindStringSubmatch(b.get("/staff/replies").Body)[1]
			return xoRequest{b: b, path: "/staff/replies", form: url.Values{"team": {team}, "title": {"Received"}, "body": {"We received it."}}}
		},
		"POST /staff/replies/{id}/delete": func() xoRequest {
			b := as(repEmail)()
			team := regexp.MustCompile(`name="team" value="(\d+)"`).FindStringSubmatch(b.get("/staff/replies").Body)[1]
			b.post("/staff/replies", url.Values{"team": {team}, "title": {"To delete"}, "body": {"Soon gone."}})
			id := regexp.MustCompile(`/staff/replies/([0-9a-f-]{36})/delete`).FindStringSubmatch(b.get("/staff/replies").Body)[1]
			return xoRequest{b: b, path: "/staff/replies/" + id + "/delete", form: url.Values{}}
		},
		"POST /staff/signature": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/signature", form: url.Values{"signature": {"Rep, ext. 1"}}}
		},
		"POST /staff/threads/read": func() xoRequest {
			// A fresh reply from the provider, so there is something to mark.
			as(drEmail)().postMessage("/threads/"+tid+"/reply", url.Values{"body": {"One more thing."}})
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/read", form: url.Values{"thread": {tid}}}
		},
		"POST /staff/threads/done": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/done", form: url.Values{"thread": {tid}}}
		},
		"POST /staff/messages/{id}/remind": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/messages/" + newStaffMessage() + "/remind", form: url.Values{}}
		},
		"POST /staff/messages/{id}/recall": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/messages/" + newStaffMessage() + "/recall", form: url.Values{}}
		},
		"POST /admin/reauth": func() xoRequest {
			b := as(adminEmail)()
			return xoRequest{b: b, path: "/admin/reauth", form: url.Values{"password": {goodPassword}, "code": {s.freshCode(adminEmail)}, "next": {"/admin/users"}}}
		},
		"POST /admin/users/{id}/actions": func() xoRequest {
			u := createUser("target@clinic.example", accounts.RoleProvider)
			return xoRequest{b: as(adminEmail)(), path: fmt.Sprintf("/admin/users/%d/actions", u.ID),
				form: url.Values{"action": {"disable"}, "reason": {"Left the practice"}}}
		},
		"POST /admin/users/{id}/role": func() xoRequest {
			u, _ := s.staffIn("promote@plan.example", "Pat Promote", "Provider Services – Los Angeles County")
			return xoRequest{b: as(adminEmail)(), path: fmt.Sprintf("/admin/users/%d/role", u.ID),
				form: url.Values{"role": {"admin"}, "reason": {"Supervisor"}}}
		},
		"POST /admin/staff": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: "/admin/staff",
				form: url.Values{"email": {"new.rep@plan.example"}, "name": {"Nia Rep"}, "role": {"staff"}, "team": {fmt.Sprint(teamID)}}}
		},
		"POST /admin/teams": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: "/admin/teams",
				form: url.Values{"name": {"Provider Services – Orange County"}, "line_of_business": {"Medi-Cal"}}}
		},
		"POST /admin/teams/{id}/members": func() xoRequest {
			createUser("loose@plan.example", accounts.RoleStaff) // in no team yet
			return xoRequest{b: as(adminEmail)(), path: fmt.Sprintf("/admin/teams/%d/members", teamID), form: url.Values{"email": {"loose@plan.example"}}}
		},
		"POST /admin/teams/{id}/replies": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: fmt.Sprintf("/admin/teams/%d/replies", teamID), form: url.Values{"title": {"Hours"}, "body": {"Closed on the 25th."}}}
		},
		"POST /admin/teams/{id}/replies/{reply}/delete": func() xoRequest {
			b := as(adminEmail)()
			b.post(fmt.Sprintf("/admin/teams/%d/replies", teamID), url.Values{"title": {"To delete"}, "body": {"Soon gone."}})
			id := regexp.MustCompile(`/replies/([0-9a-f-]{36})/delete`).FindStringSubmatch(b.get(fmt.Sprintf("/admin/teams/%d/replies", teamID)).Body)[1]
			return xoRequest{b: b, path: fmt.Sprintf("/admin/teams/%d/replies/%s/delete", teamID, id), form: url.Values{}}
		},
		"POST /admin/teams/{id}/members/remove": func() xoRequest {
			_, team := s.staffIn("member@plan.example", "Max Member", "Provider Services – Los Angeles County")
			return xoRequest{b: as(adminEmail)(), path: fmt.Sprintf("/admin/teams/%d/members/remove", team), form: url.Values{"email": {"member@plan.example"}}}
		},
		"POST /admin/emergency": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: "/admin/emergency",
				form: url.Values{"thread": {tid}, "reason": {"Member in ER, physician unreachable"}, "duration": {"1h0m0s"}}}
		},
		"POST /admin/keys/rotate": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: "/admin/keys/rotate", form: url.Values{"reason": {"Annual rotation"}}}
		},
		"POST /admin/domains": func() xoRequest {
			return xoRequest{b: as(adminEmail)(), path: "/admin/domains",
				form: url.Values{"domain": {"hospital.example"}, "policy": {"tls-required"}, "reason": {"Agreed with the clinic's IT"}}}
		},
		"POST /admin/domains/check": func() xoRequest {
			// A domain the portal never contacts (policy portal), so the
			// check needs no network; it stores nothing either way.
			ab := as(adminEmail)()
			if p := ab.post("/admin/domains", url.Values{"domain": {"webmail.example"}, "policy": {"portal"}, "reason": {"Consumer mail"}}); p.Status != http.StatusSeeOther {
				t.Fatalf("setup: domain policy: %d", p.Status)
			}
			return xoRequest{b: ab, path: "/admin/domains/check", form: url.Values{"domain": {"webmail.example"}}, storesNothing: true}
		},
		"POST /threads/{id}/archive": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/threads/" + tid + "/archive", form: url.Values{"archive": {"1"}}}
		},
		"POST /threads/{id}/reply": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/threads/" + tid + "/reply", multipart: true,
				form: url.Values{"body": {"Thanks, see the consent."}}, file: &file{"consent.txt", []byte("signed")}}
		},
		"POST /compose": func() xoRequest {
			return xoRequest{b: as(drEmail)(), path: "/compose", multipart: true,
				form: url.Values{"to": {fmt.Sprintf("staff:%d", rep.ID)}, "subject": {"Question"}, "body": {"About the claim."}}}
		},
		"POST /staff/threads/{id}/reply": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/threads/" + tid + "/reply", multipart: true,
				form: url.Values{"body": {"Here is the letter."}}, file: &file{"letter.pdf", []byte("%PDF-1.7 letter")}}
		},
		"POST /staff/compose": func() xoRequest {
			return xoRequest{b: as(repEmail)(), path: "/staff/compose", multipart: true,
				form: url.Values{"to": {drEmail}, "subject": {"Lab results"}, "body": {"Attached."}}, file: &file{"lab.pdf", []byte("%PDF-1.7 lab")}}
		},
	}

	// The route table's unsafe routes. The static files are the one route
	// outside the cross-origin check (no session, read-only; chi registers
	// every method for it, and knownMethods answers all but GET, HEAD and
	// POST with 501): they must store nothing either.
	var unsafe, static []string
	err := chi.Walk(s.app.Web.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if method == http.MethodGet || method == http.MethodHead {
			return nil
		}
		if strings.HasPrefix(route, "/static/") {
			static = append(static, method+" "+route)
		} else {
			unsafe = append(unsafe, method+" "+route)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(unsafe)
	if missing := without(unsafe, slices.Collect(maps.Keys(cases))); len(missing) > 0 {
		t.Errorf("unsafe routes without a cross-origin case here (add one): %v", missing)
	}
	if stale := without(slices.Collect(maps.Keys(cases)), unsafe); len(stale) > 0 {
		t.Errorf("cases for routes no longer in the table: %v", stale)
	}

	crossSite := http.Header{"Sec-Fetch-Site": {"cross-site"}}
	foreign := []struct {
		name   string
		header http.Header
	}{
		{"Sec-Fetch-Site: cross-site", crossSite},
		// No Fetch Metadata (an older browser): the Origin decides.
		{"Origin: https://evil.example", http.Header{"Sec-Fetch-Site": nil, "Origin": {"https://evil.example"}}},
	}
	controls := 0
	for _, key := range unsafe {
		prepare, ok := cases[key]
		if !ok {
			continue
		}
		method := strings.Fields(key)[0]
		req := prepare()
		settle(t, s)
		before := storedState(t, s)
		for _, f := range foreign {
			p := req.send(method, f.header)
			if p.Status != http.StatusForbidden || !strings.Contains(p.Body, "That action was refused") {
				t.Errorf("%s (%s) with %s: %d, want 403 and the refusal page", key, req.path, f.name, p.Status)
			}
		}
		settle(t, s)
		if after := storedState(t, s); !maps.Equal(before, after) {
			t.Errorf("%s: a refused cross-origin request changed %v", key, changedTables(before, after))
		}

		// The control: the same request from the portal's own page goes
		// through, so the refusal above is the cross-origin check's.
		p := req.send(method, nil)
		if want := cmp.Or(req.want, http.StatusSeeOther); p.Status != want {
			t.Errorf("%s (%s) same-origin control: %d, want %d", key, req.path, p.Status, want)
			continue
		}
		settle(t, s)
		changed := changedTables(before, storedState(t, s))
		// Any signed-in request writes its session back; the route's own
		// effect must show elsewhere.
		if len(without(changed, []string{"sessions"})) == 0 && !req.storesNothing {
			t.Errorf("%s same-origin control stored nothing: the request is not one that would change anything", key)
		}
		t.Logf("%s: refused cross-origin; same-origin %d, changed %v", key, p.Status, changed)
		controls++
	}

	// The static route, with every method chi registered for it, cross-site
	// from a signed-in browser: whatever it answers, nothing is stored.
	sb := s.signedIn(drEmail)
	settle(t, s)
	before := storedState(t, s)
	for _, key := range static {
		method := strings.Fields(key)[0]
		p := sb.do(method, "/static/x/css/app.css", nil, crossSite, strings.NewReader("a=b"))
		t.Logf("%s cross-site: %d", key, p.Status)
	}
	settle(t, s)
	if changed := changedTables(before, storedState(t, s)); len(changed) > 0 {
		t.Errorf("unsafe methods on /static/* changed %v", changed)
	}

	t.Logf("walked %d unsafe routes (each sent cross-site and from a foreign origin, then same-origin: %d controls went through) and %d methods on /static/*",
		len(unsafe), controls, len(static))
	must(t, fmt.Sprintf("walked the unsafe routes (%d)", len(unsafe)), len(unsafe) >= 24)
	must(t, fmt.Sprintf("every same-origin control went through (%d of %d)", controls, len(unsafe)), controls == len(unsafe))
}

// xoRequest is one unsafe request as the portal's own page would send it:
// a form (urlencoded, or multipart for message forms, with an optional
// file) from browser b. want is the status of the same-origin control
// (303 unless set); storesNothing marks a request whose success changes no
// stored row.
type xoRequest struct {
	b             *browser
	path          string
	form          url.Values
	multipart     bool
	file          *file
	want          int
	storesNothing bool
}

// send sends the request with extra headers over the browser's same-origin
// defaults.
func (r xoRequest) send(method string, extra http.Header) page {
	r.b.t.Helper()
	var body io.Reader
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if r.multipart {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for k, vs := range r.form {
			for _, v := range vs {
				mw.WriteField(k, v)
			}
		}
		if r.file != nil {
			w, _ := mw.CreateFormFile("attachments", r.file.name)
			w.Write(r.file.data)
		}
		mw.Close()
		body, h["Content-Type"] = &buf, []string{mw.FormDataContentType()}
	} else {
		body = strings.NewReader(r.form.Encode())
	}
	maps.Copy(h, extra)
	return r.b.do(method, r.path, nil, h, body)
}

// storedTables are what an unsafe route can change: accounts and links,
// sessions, messages and their keys, teams, grants, delivery policies and
// the audit trail. Each is fingerprinted whole (row count and a hash of
// every row), so an UPDATE shows as well as an INSERT or DELETE; the
// encrypted chunks by their count.
var storedTables = []string{
	"users", "tokens", "sessions", "audit_events", "threads", "messages", "message_reads", "attachments",
	"data_keys", "teams", "team_members", "emergency_access", "domain_policies", "domain_checks", "reply_tokens",
	"message_deliveries", "mail_sent",
}

func storedState(t *testing.T, s *site) map[string]string {
	t.Helper()
	ctx := context.Background()
	state := map[string]string{}
	for _, table := range storedTables {
		var n int64
		var sum string
		// Search tokens and the search key are the indexing job's, which
		// runs on its own clock, never a request's.
		row, where := `(to_jsonb(t) - 'search_tokens')::text`, ""
		if table == "data_keys" {
			where = ` WHERE owner_kind <> 'search-key'`
		}
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(%s, '|' ORDER BY %s)), '') FROM %q t%s`, row, row, table, where)
		if err := s.app.Pool.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
			t.Fatalf("fingerprint %s: %v", table, err)
		}
		state[table] = fmt.Sprintf("%d rows %s", n, sum)
	}
	var chunks, jobs int64
	if err := s.app.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM data_chunks), (SELECT count(*) FROM river_job WHERE kind NOT IN ('purge_expired', 'search_index', 'blob_garbage'))`).Scan(&chunks, &jobs); err != nil {
		t.Fatal(err)
	}
	state["data_chunks"] = fmt.Sprintf("%d rows", chunks)
	state["river_job"] = fmt.Sprintf("%d rows", jobs) // emails and deliveries queued
	return state
}

// settle waits until the background jobs a request queued (emails,
// deliveries) have run, so that what they store is not taken for what a
// request stored.
func settle(t *testing.T, s *site) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pending int
		err := s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
			WHERE state IN ('available', 'running', 'retryable', 'pending') OR (state = 'scheduled' AND scheduled_at < now() + interval '1 minute')`).Scan(&pending)
		if err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("background jobs did not finish: %d pending", pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func changedTables(before, after map[string]string) []string {
	var changed []string
	for table, v := range before {
		if after[table] != v {
			changed = append(changed, table)
		}
	}
	slices.Sort(changed)
	return changed
}

// without is the elements of a not in b, sorted.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	slices.Sort(out)
	return out
}
