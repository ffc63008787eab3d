package web_test

import (
	"bytes"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// idorTry is one attempt by an actor who must not reach the object behind
// real: the same request to missing (the same route, an id of nothing)
// is what its answer must be indistinguishable from.
type idorTry struct {
	actor         string
	real, missing string // paths
	form          url.Values
	multipart     bool
	want          int // the status both get: 404, or 410 for emailed links
}

// TestSecurityIDOROnEveryIDRouteForEveryRolePair walks the route table and,
// for every route with an {id} or {token}, has each actor who must not see
// the object ask for it with the real id of someone else's: provider B for
// provider A's thread, files and reply form; staff of team Y for team X's
// thread, files, replies and recall; a teammate for a message they did not
// send; providers and staff for the admin console's users and teams;
// admins for the provider's and staff's pages, for files and threads of
// grants they do not hold (one live for another thread, one expired); an
// emailed link of the other kind (a reset link at registration and the
// other way round). The answer must be the answer to an id that does not
// exist (same status, same headers that matter, same page apart from the
// request id), and nothing stored may change: no read receipt, audit
// event, message, membership, role, token use or queued email. The owner's
// own GET of the same object is the control that proves the id is real.
//
// Existing narrower checks: TestOthersGetNotFoundForAThread (status and
// length for one thread), TestEveryAdminRouteIsNotFoundForProvidersAndStaff
// (status with id 1), and the store's scope tests in internal/postgres.
func TestSecurityIDOROnEveryIDRouteForEveryRolePair(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	th := func(prefix, id string) string { return prefix + id }
	user := func(id int64, suffix string) string { return fmt.Sprintf("/admin/users/%d%s", id, suffix) }
	team := func(id int64, suffix string) string { return fmt.Sprintf("/admin/teams/%d%s", id, suffix) }
	reply := url.Values{"body": {"intrusion"}}
	cases := map[string][]idorTry{
		"GET /threads/{id}": {
			{actor: secProvB, real: th("/threads/", w.threadA), missing: th("/threads/", missingUID)},
			{actor: secStaffX, real: th("/threads/", w.threadA), missing: th("/threads/", missingUID)}, // their own thread, in the provider's area
			{actor: secAdmin, real: th("/threads/", w.threadB), missing: th("/threads/", missingUID)},  // granted, but not here
		},
		"POST /threads/{id}/reply": {
			{actor: secProvB, real: th("/threads/", w.threadA) + "/reply", missing: th("/threads/", missingUID) + "/reply", form: reply, multipart: true},
			{actor: secStaffX, real: th("/threads/", w.threadA) + "/reply", missing: th("/threads/", missingUID) + "/reply", form: reply, multipart: true},
			{actor: secAdmin, real: th("/threads/", w.threadB) + "/reply", missing: th("/threads/", missingUID) + "/reply", form: reply, multipart: true},
		},
		"POST /threads/{id}/archive": {
			{actor: secProvB, real: th("/threads/", w.threadA) + "/archive", missing: th("/threads/", missingUID) + "/archive", form: url.Values{"archive": {"1"}}},
			{actor: secStaffX, real: th("/threads/", w.threadA) + "/archive", missing: th("/threads/", missingUID) + "/archive", form: url.Values{"archive": {"1"}}},
			{actor: secAdmin, real: th("/threads/", w.threadB) + "/archive", missing: th("/threads/", missingUID) + "/archive", form: url.Values{"archive": {"1"}}},
		},
		"GET /staff/threads/{id}": {
			{actor: secStaffY, real: th("/staff/threads/", w.threadA), missing: th("/staff/threads/", missingUID)},
			{actor: secProvA, real: th("/staff/threads/", w.threadA), missing: th("/staff/threads/", missingUID)},
			{actor: secAdmin, real: th("/staff/threads/", w.threadB), missing: th("/staff/threads/", missingUID)},
		},
		"POST /staff/threads/{id}/reply": {
			{actor: secStaffY, real: th("/staff/threads/", w.threadA) + "/reply", missing: th("/staff/threads/", missingUID) + "/reply", form: reply, multipart: true},
			{actor: secProvA, real: th("/staff/threads/", w.threadA) + "/reply", missing: th("/staff/threads/", missingUID) + "/reply", form: reply, multipart: true},
			{actor: secAdmin, real: th("/staff/threads/", w.threadB) + "/reply", missing: th("/staff/threads/", missingUID) + "/reply", form: reply, multipart: true},
		},
		"POST /staff/threads/{id}/notes": {
			{actor: secStaffY, real: "/staff/threads/" + w.threadA + "/notes", missing: "/staff/threads/" + missingUID + "/notes", form: url.Values{"note": {"intrusion"}}},
			{actor: secProvA, real: "/staff/threads/" + w.threadA + "/notes", missing: "/staff/threads/" + missingUID + "/notes", form: url.Values{"note": {"intrusion"}}},
			{actor: secAdmin, real: "/staff/threads/" + w.threadB + "/notes", missing: "/staff/threads/" + missingUID + "/notes", form: url.Values{"note": {"intrusion"}}},
		},
		"POST /staff/threads/{id}/status": {
			{actor: secStaffY, real: "/staff/threads/" + w.threadA + "/status", missing: "/staff/threads/" + missingUID + "/status", form: url.Values{"status": {"done"}}},
			{actor: secProvA, real: "/staff/threads/" + w.threadA + "/status", missing: "/staff/threads/" + missingUID + "/status", form: url.Values{"status": {"done"}}},
			{actor: secAdmin, real: "/staff/threads/" + w.threadB + "/status", missing: "/staff/threads/" + missingUID + "/status", form: url.Values{"status": {"done"}}},
		},
		"POST /staff/threads/{id}/assign": {
			{actor: secStaffY, real: "/staff/threads/" + w.threadA + "/assign", missing: "/staff/threads/" + missingUID + "/assign", form: url.Values{"assignee": {"rep.y@plan.example"}}},
			{actor: secProvA, real: "/staff/threads/" + w.threadA + "/assign", missing: "/staff/threads/" + missingUID + "/assign", form: url.Values{"assignee": {""}}},
			{actor: secAdmin, real: "/staff/threads/" + w.threadB + "/assign", missing: "/staff/threads/" + missingUID + "/assign", form: url.Values{"assignee": {""}}},
		},
		"GET /staff/messages/{id}/recall": {
			{actor: secStaffY, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall"},
			{actor: secMateX, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall"},
			{actor: secProvA, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall"},
		},
		"POST /staff/replies/{id}/delete": {
			{actor: secStaffY, real: "/staff/replies/" + w.replyX + "/delete", missing: "/staff/replies/" + missingUID + "/delete", form: url.Values{}},
			{actor: secProvA, real: "/staff/replies/" + w.replyX + "/delete", missing: "/staff/replies/" + missingUID + "/delete", form: url.Values{}},
			{actor: secAdmin, real: "/staff/replies/" + w.replyX + "/delete", missing: "/staff/replies/" + missingUID + "/delete", form: url.Values{}},
		},
		// Provider A's practice: its invitation and member, by provider B
		// (in no practice) and by staff.
		"POST /practice/invites/{id}/accept": {
			{actor: secProvB, real: "/practice/invites/" + w.inviteA + "/accept", missing: "/practice/invites/" + missingNum + "/accept", form: url.Values{}},
			{actor: secStaffX, real: "/practice/invites/" + w.inviteA + "/accept", missing: "/practice/invites/" + missingNum + "/accept", form: url.Values{}},
		},
		"POST /practice/invites/{id}/decline": {
			{actor: secProvB, real: "/practice/invites/" + w.inviteA + "/decline", missing: "/practice/invites/" + missingNum + "/decline", form: url.Values{}},
		},
		"POST /practice/invites/{id}/withdraw": {
			{actor: secProvB, real: "/practice/invites/" + w.inviteA + "/withdraw", missing: "/practice/invites/" + missingNum + "/withdraw", form: url.Values{}},
		},
		"POST /practice/members/{id}/remove": {
			{actor: secProvB, real: "/practice/members/" + w.memberA + "/remove", missing: "/practice/members/" + missingNum + "/remove", form: url.Values{}},
			{actor: secAdmin, real: "/practice/members/" + w.memberA + "/remove", missing: "/practice/members/" + missingNum + "/remove", form: url.Values{}},
		},
		"GET /staff/providers/{id}": {
			{actor: secStaffY, real: fmt.Sprintf("/staff/providers/%d", w.provA.ID), missing: "/staff/providers/" + missingNum},
			{actor: secAdmin, real: fmt.Sprintf("/staff/providers/%d", w.provA.ID), missing: "/staff/providers/" + missingNum},
		},
		"POST /staff/providers/{id}/registration": {
			{actor: secStaffY, real: fmt.Sprintf("/staff/providers/%d/registration", w.provA.ID), missing: "/staff/providers/" + missingNum + "/registration", form: url.Values{}},
		},
		"POST /staff/messages/{id}/remind": {
			{actor: secStaffY, real: "/staff/messages/" + w.msgA + "/remind", missing: "/staff/messages/" + missingUID + "/remind", form: url.Values{}},
			{actor: secMateX, real: "/staff/messages/" + w.msgA + "/remind", missing: "/staff/messages/" + missingUID + "/remind", form: url.Values{}}, // sees it, did not send it
			{actor: secProvA, real: "/staff/messages/" + w.msgA + "/remind", missing: "/staff/messages/" + missingUID + "/remind", form: url.Values{}},
			{actor: secAdmin, real: "/staff/messages/" + w.msgA + "/remind", missing: "/staff/messages/" + missingUID + "/remind", form: url.Values{}},
		},
		"POST /staff/messages/{id}/recall": {
			{actor: secStaffY, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall", form: url.Values{}},
			{actor: secMateX, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall", form: url.Values{}}, // sees it, did not send it
			{actor: secProvA, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall", form: url.Values{}},
			{actor: secAdmin, real: "/staff/messages/" + w.msgA + "/recall", missing: "/staff/messages/" + missingUID + "/recall", form: url.Values{}},
		},
		"GET /attachments/{id}": {
			{actor: secProvB, real: "/attachments/" + w.attA, missing: "/attachments/" + missingUID},
			{actor: secProvB, real: "/attachments/" + w.attAProv, missing: "/attachments/" + missingUID},
			{actor: secStaffY, real: "/attachments/" + w.attA, missing: "/attachments/" + missingUID},
			{actor: secStaffY, real: "/attachments/" + w.attAProv, missing: "/attachments/" + missingUID},
			{actor: secProvA, real: "/attachments/" + w.attB, missing: "/attachments/" + missingUID},
			{actor: secStaffX, real: "/attachments/" + w.attB, missing: "/attachments/" + missingUID},
			{actor: secAdmin, real: "/attachments/" + w.attA, missing: "/attachments/" + missingUID},  // a grant for threadB only
			{actor: secAdmin2, real: "/attachments/" + w.attA, missing: "/attachments/" + missingUID}, // an expired grant for threadA
			{actor: secNobody, real: "/attachments/" + w.attA, missing: "/attachments/" + missingUID, want: http.StatusSeeOther},
		},
		"GET /admin/emergency/threads/{id}": {
			{actor: secAdmin, real: th("/admin/emergency/threads/", w.threadA), missing: th("/admin/emergency/threads/", missingUID)},
			{actor: secAdmin2, real: th("/admin/emergency/threads/", w.threadA), missing: th("/admin/emergency/threads/", missingUID)},
			{actor: secStaffX, real: th("/admin/emergency/threads/", w.threadA), missing: th("/admin/emergency/threads/", missingUID)},
			{actor: secProvA, real: th("/admin/emergency/threads/", w.threadA), missing: th("/admin/emergency/threads/", missingUID)},
		},
		"GET /admin/users/{id}": {
			{actor: secStaffX, real: user(w.admin.ID, ""), missing: "/admin/users/" + missingNum},
			{actor: secProvA, real: user(w.provA.ID, ""), missing: "/admin/users/" + missingNum}, // their own account
		},
		"GET /account/passkeys/{id}/remove": {
			{actor: secProvB, real: "/account/passkeys/" + w.passkeyA + "/remove", missing: "/account/passkeys/" + missingNum + "/remove"},
			{actor: secAdmin, real: "/account/passkeys/" + w.passkeyA + "/remove", missing: "/account/passkeys/" + missingNum + "/remove"},
		},
		"POST /account/passkeys/{id}/remove": {
			{actor: secProvB, real: "/account/passkeys/" + w.passkeyA + "/remove", missing: "/account/passkeys/" + missingNum + "/remove",
				form: url.Values{"password": {goodPassword}}},
		},
		"GET /admin/users/{id}/confirm": {
			{actor: secStaffX, real: user(w.provA.ID, "/confirm?action=disable"), missing: "/admin/users/" + missingNum + "/confirm?action=disable"},
			{actor: secProvA, real: user(w.staffX.ID, "/confirm?action=disable"), missing: "/admin/users/" + missingNum + "/confirm?action=disable"},
		},
		"POST /admin/users/{id}/actions": {
			{actor: secStaffX, real: user(w.provA.ID, "/actions"), missing: "/admin/users/" + missingNum + "/actions", form: url.Values{"action": {"disable"}, "reason": {"x"}}},
			{actor: secProvA, real: user(w.staffX.ID, "/actions"), missing: "/admin/users/" + missingNum + "/actions", form: url.Values{"action": {"reset_link"}, "reason": {"x"}}},
		},
		"GET /admin/users/{id}/role": {
			{actor: secStaffX, real: user(w.staffX.ID, "/role?role=admin"), missing: "/admin/users/" + missingNum + "/role?role=admin"},
			{actor: secProvA, real: user(w.provA.ID, "/role?role=admin"), missing: "/admin/users/" + missingNum + "/role?role=admin"},
		},
		"POST /admin/users/{id}/role": { // promoting oneself
			{actor: secStaffX, real: user(w.staffX.ID, "/role"), missing: "/admin/users/" + missingNum + "/role", form: url.Values{"role": {"admin"}, "reason": {"x"}}},
			{actor: secProvA, real: user(w.provA.ID, "/role"), missing: "/admin/users/" + missingNum + "/role", form: url.Values{"role": {"staff"}, "reason": {"x"}}},
		},
		"POST /admin/teams/{id}/members": { // joining another team to read its threads
			{actor: secStaffX, real: team(w.teamY, "/members"), missing: "/admin/teams/" + missingNum + "/members", form: url.Values{"email": {"rep.x@plan.example"}}},
			{actor: secProvA, real: team(w.teamX, "/members"), missing: "/admin/teams/" + missingNum + "/members", form: url.Values{"email": {"rep.y@plan.example"}}},
		},
		"GET /admin/teams/{id}/replies": {
			{actor: secStaffX, real: team(w.teamX, "/replies"), missing: "/admin/teams/" + missingNum + "/replies"},
			{actor: secProvA, real: team(w.teamX, "/replies"), missing: "/admin/teams/" + missingNum + "/replies"},
		},
		"POST /admin/teams/{id}/replies": {
			{actor: secStaffY, real: team(w.teamX, "/replies"), missing: "/admin/teams/" + missingNum + "/replies", form: url.Values{"title": {"x"}, "body": {"intrusion"}}},
			{actor: secProvA, real: team(w.teamX, "/replies"), missing: "/admin/teams/" + missingNum + "/replies", form: url.Values{"title": {"x"}, "body": {"intrusion"}}},
		},
		"POST /admin/teams/{id}/replies/{reply}/delete": {
			{actor: secStaffY, real: team(w.teamX, "/replies/"+w.replyX+"/delete"), missing: team(w.teamX, "/replies/"+missingUID+"/delete"), form: url.Values{}},
			{actor: secAdmin, real: team(w.teamY, "/replies/"+w.replyX+"/delete"), missing: team(w.teamY, "/replies/"+missingUID+"/delete"), form: url.Values{}}, // team X's reply through team Y
		},
		"POST /admin/teams/{id}/members/remove": {
			{actor: secStaffY, real: team(w.teamX, "/members/remove"), missing: "/admin/teams/" + missingNum + "/members/remove", form: url.Values{"email": {"rep.x@plan.example"}}},
			{actor: secProvA, real: team(w.teamX, "/members/remove"), missing: "/admin/teams/" + missingNum + "/members/remove", form: url.Values{"email": {"rep.x@plan.example"}}},
		},
		// Emailed links: a live link of the other kind is no link at all.
		"GET /register/{token}": {
			{actor: secNobody, real: "/register/" + w.resetToken, missing: "/register/" + randomToken(), want: http.StatusGone},
			{actor: secProvB, real: "/register/" + w.resetToken, missing: "/register/" + randomToken(), want: http.StatusGone},
		},
		"POST /register/{token}": {
			{actor: secNobody, real: "/register/" + w.resetToken, missing: "/register/" + randomToken(), want: http.StatusGone,
				form: url.Values{"name": {"Mallory"}, "password": {"violet harbour lanterns sway gently"}, "password_confirm": {"violet harbour lanterns sway gently"}}},
		},
		"POST /register/{token}/new-link": {
			{actor: secNobody, real: "/register/" + w.resetToken + "/new-link", missing: "/register/" + randomToken() + "/new-link", want: http.StatusGone, form: url.Values{}},
		},
		"GET /reset-password/{token}": {
			{actor: secNobody, real: "/reset-password/" + w.regToken, missing: "/reset-password/" + randomToken(), want: http.StatusGone},
			{actor: secProvB, real: "/reset-password/" + w.regToken, missing: "/reset-password/" + randomToken(), want: http.StatusGone},
		},
		"POST /reset-password/{token}": {
			{actor: secNobody, real: "/reset-password/" + w.regToken, missing: "/reset-password/" + randomToken(), want: http.StatusGone,
				form: url.Values{"password": {"violet harbour lanterns sway gently"}, "password_confirm": {"violet harbour lanterns sway gently"}}},
		},
	}
	// The owners' own requests: the ids above are real.
	controls := map[string]struct{ actor, path string }{
		"GET /threads/{id}":                 {secProvA, "/threads/" + w.threadA},
		"GET /staff/threads/{id}":           {secMateX, "/staff/threads/" + w.threadA},
		"GET /attachments/{id}":             {secProvA, "/attachments/" + w.attA},
		"GET /admin/emergency/threads/{id}": {secAdmin, "/admin/emergency/threads/" + w.threadB},
		"GET /admin/users/{id}":             {secAdmin, user(w.provA.ID, "")},
		"GET /admin/users/{id}/confirm":     {secAdmin, user(w.provA.ID, "/confirm?action=disable")},
		"GET /admin/users/{id}/role":        {secAdmin, user(w.staffX.ID, "/role?role=admin")},
		"GET /register/{token}":             {secNobody, "/register/" + w.regToken},
		"GET /reset-password/{token}":       {secNobody, "/reset-password/" + w.resetToken},
	}

	var idRoutes []string
	for _, r := range routeTable(t, w.site) {
		if strings.Contains(r, "{id}") || strings.Contains(r, "{token}") {
			idRoutes = append(idRoutes, r)
		}
	}
	checkCovered(t, "IDOR", idRoutes, slices.Collect(maps.Keys(cases)))

	tries := 0
	for _, route := range idRoutes {
		for _, try := range cases[route] {
			method := strings.Fields(route)[0]
			b := w.as[try.actor]
			want := try.want
			if want == 0 {
				want = http.StatusNotFound
			}
			settle(t, w.site)
			before := stateWithout(t, w.site, "sessions")
			methods := []string{method}
			if method == http.MethodGet {
				methods = append(methods, http.MethodHead)
			}
			for _, m := range methods {
				got, ref := w.send(b, m, try.real, try), w.send(b, m, try.missing, try)
				label := fmt.Sprintf("%s %s as %s", m, strings.Fields(route)[1], try.actor)
				if got.Status != want || ref.Status != want {
					t.Errorf("%s: someone else's object answers %d, a missing one %d; want %d for both", label, got.Status, ref.Status, want)
				}
				if normalized(got, idOf(try.real)) != normalized(ref, idOf(try.missing)) {
					t.Errorf("%s: the page for someone else's object differs from the page for a missing one:\n%s\n----\n%s",
						label, excerpt(normalized(got, idOf(try.real))), excerpt(normalized(ref, idOf(try.missing))))
				}
				for _, h := range []string{"Content-Type", "Cache-Control", "Content-Security-Policy", "Referrer-Policy", "Content-Disposition", "Allow", "Retry-After"} {
					if got.Header.Get(h) != ref.Header.Get(h) {
						t.Errorf("%s: header %s %q for someone else's object, %q for a missing one", label, h, got.Header.Get(h), ref.Header.Get(h))
					}
				}
				if strings.Replace(got.Location, idOf(try.real), "ID", 1) != strings.Replace(ref.Location, idOf(try.missing), "ID", 1) {
					t.Errorf("%s: redirects to %q, for a missing one to %q", label, got.Location, ref.Location)
				}
				tries++
			}
			settle(t, w.site)
			if after := stateWithout(t, w.site, "sessions"); !maps.Equal(before, after) {
				t.Errorf("%s as %s changed %s", route, try.actor, fmtState(before, after))
			}
		}
		if c, ok := controls[route]; ok {
			if p := w.as[c.actor].get(c.path); p.Status != http.StatusOK {
				t.Errorf("control: %s asks for %s (their own): %d, want 200", c.actor, c.path, p.Status)
			}
		}
	}
	t.Logf("%d id-bearing routes, %d attempts (each beside the same request for a missing id)", len(idRoutes), tries)
	must(t, fmt.Sprintf("walked the id routes (%d)", len(idRoutes)), len(idRoutes) >= 19)

	// Nothing was taken: the links still work for their owners, and the
	// thread still holds its two messages.
	must(t, "the registration link still works", w.browser().get("/register/"+w.regToken).Status == http.StatusOK)
	must(t, "the reset link still works", w.browser().get("/reset-password/"+w.resetToken).Status == http.StatusOK)
	must(t, "threadA still has its 2 messages, none withdrawn",
		w.count(`SELECT count(*) FROM messages WHERE thread_id = $1 AND recalled_at IS NULL`, w.threadA) == 2)
}

// send sends try's request (its form, if any) to path.
func (w *secWorld) send(b *browser, method, path string, try idorTry) page {
	w.t.Helper()
	if try.form == nil || method != http.MethodPost {
		return b.do(method, path, nil, nil)
	}
	if !try.multipart {
		return b.post(path, try.form)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range try.form {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	fw, _ := mw.CreateFormFile("attachments", "intrusion.txt")
	fw.Write([]byte("not yours"))
	mw.Close()
	return b.do(method, path, nil, http.Header{"Content-Type": {mw.FormDataContentType()}}, &buf)
}

// idOf is the id or token in a path: the segment after the route's prefix.
func idOf(path string) string {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch p {
		case "threads", "attachments", "messages", "users", "teams", "register", "reset-password":
			if i+1 < len(parts) {
				return parts[i+1]
			}
		}
	}
	return ""
}

func excerpt(s string) string {
	if len(s) > 600 {
		return s[:600] + "…"
	}
	return s
}
