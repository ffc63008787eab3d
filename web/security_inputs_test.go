package web_test

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// inputRoute is how the security suite sends one route of the table with
// chosen values: who sends it, to which path (real ids filled in), the
// parameters the handler reads (the query of a GET, the form of a POST),
// values that would be accepted for each, and whether the form is
// multipart (the message forms).
type inputRoute struct {
	actor     string
	path      string
	params    []string
	base      func() url.Values // fresh values for every request: some must be unique
	multipart bool
}

// inputRoutes is every GET and POST route of the table, as secWorld's
// actors use them. A route missing here fails the tests that walk it.
func (w *secWorld) inputRoutes() map[string]inputRoute {
	n := 0
	uniq := func(format string) string { n++; return fmt.Sprintf(format, n) }
	vals := func(kv ...string) func() url.Values {
		return func() url.Values {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
	}
	none := vals()
	audit := []string{"actor", "subject", "action", "thread", "from", "to", "before"}
	auditBase := vals("actor", "admin@plan.example", "subject", "dr.a@clinic-a.example", "action", "login.", "thread", w.threadA, "from", "2020-01-01", "to", "2099-01-01")
	target := fmt.Sprint(w.target.ID)
	return map[string]inputRoute{
		"GET /":                           {secNobody, "/", nil, none, false},
		"GET /help":                       {secNobody, "/help", nil, none, false},
		"GET /healthz":                    {secNobody, "/healthz", nil, none, false},
		"GET /readyz":                     {secNobody, "/readyz", nil, none, false},
		"GET /static/*":                   {secNobody, "/static/x/css/app.css", nil, none, false},
		"POST /static/*":                  {secNobody, "/static/x/css/app.css", nil, none, false},
		"GET /tls-check":                  {secNobody, "/tls-check", []string{"domain"}, none, false},
		"GET /login":                      {secNobody, "/login", []string{"next", "reason"}, vals("next", "/account", "reason", "idle"), false},
		"POST /login":                     {secNobody, "/login", []string{"email", "password", "next"}, vals("email", secInputsEmail, "password", "", "next", "/account"), false},
		"POST /logout":                    {secNobody, "/logout", nil, none, false},
		"GET /forgot-password":            {secNobody, "/forgot-password", nil, none, false},
		"POST /forgot-password":           {secNobody, "/forgot-password", []string{"email"}, vals("email", "nobody@clinic-e.example"), false},
		"GET /register/{token}":           {secNobody, "/register/" + w.regToken, nil, none, false},
		"POST /register/{token}":          {secNobody, "/register/" + w.regToken, []string{"name", "password", "password_confirm"}, vals("name", "Dr. P", "password", "too short", "password_confirm", "too short"), false},
		"POST /register/{token}/new-link": {secNobody, "/register/" + randomToken() + "/new-link", nil, none, false},
		"GET /reset-password/{token}":     {secNobody, "/reset-password/" + w.resetToken, nil, none, false},
		"POST /reset-password/{token}":    {secNobody, "/reset-password/" + w.resetToken, []string{"password", "password_confirm"}, vals("password", "too short", "password_confirm", "too short"), false},
		"GET /account":                    {secProvB, "/account", []string{"changed"}, vals("changed", "password"), false},
		"GET /account/password":           {secProvB, "/account/password", nil, none, false},
		// The second factor. Codes in the base values are empty, so that
		// the variants of other fields count no wrong code toward a lockout.
		"GET /login/second-factor":           {secNobody, "/login/second-factor", []string{"recovery"}, vals("recovery", "1"), false},
		"POST /login/second-factor":          {secNobody, "/login/second-factor", []string{"code"}, vals("code", ""), false},
		"GET /account/mfa/totp":              {secProvB, "/account/mfa/totp", nil, none, false},
		"POST /account/mfa/totp":             {secProvB, "/account/mfa/totp", []string{"secret", "code"}, vals("secret", "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", "code", ""), false},
		"GET /account/mfa/recovery-codes":    {secStaffX, "/account/mfa/recovery-codes", nil, none, false},
		"POST /account/mfa/recovery-codes":   {secStaffX, "/account/mfa/recovery-codes", []string{"code"}, vals("code", ""), false},
		"GET /account/mfa/off":               {secInputs, "/account/mfa/off", nil, none, false},
		"GET /account/passkeys":              {secProvA, "/account/passkeys", []string{"added", "removed"}, vals("added", "1"), false},
		"GET /account/passkeys/{id}/remove":  {secProvA, "/account/passkeys/" + w.passkeyA + "/remove", nil, none, false},
		"POST /account/passkeys/{id}/remove": {secProvA, "/account/passkeys/" + w.passkeyA + "/remove", []string{"password", "code"}, vals("password", "", "code", ""), false},
		// The ceremonies' JSON endpoints, sent forms: begin answers options,
		// finish refuses what is no ceremony's answer.
		"POST /webauthn/login/begin":     {secNobody, "/webauthn/login/begin", []string{"autofill"}, none, false},
		"POST /webauthn/login/finish":    {secNobody, "/webauthn/login/finish", []string{"next"}, none, false},
		"POST /webauthn/register/begin":  {secProvB, "/webauthn/register/begin", nil, none, false},
		"POST /webauthn/register/finish": {secProvB, "/webauthn/register/finish", []string{"name"}, none, false},
		"POST /account/mfa/off":          {secInputs, "/account/mfa/off", []string{"code"}, vals("code", ""), false},
		"POST /account/password": {secInputs, "/account/password", []string{"current_password", "password", "password_confirm"},
			vals("current_password", "", "password", "too short", "password_confirm", "too short"), false},
		"POST /session/keepalive": {secProvB, "/session/keepalive", nil, none, false},
		"GET /account/profile":    {secProvB, "/account/profile", nil, none, false},
		"POST /account/profile":   {secProvB, "/account/profile", []string{"name", "practice", "phone", "language"}, vals("name", "Dr. B", "practice", "", "phone", "", "language", "en"), false},
		"GET /practice/":          {secProvB, "/practice", []string{"done"}, vals("done", "invited"), false},
		"POST /practice/": {secProvB, "/practice", []string{"name", "npi", "county", "line_of_business"},
			vals("name", "", "npi", "123", "county", "", "line_of_business", ""), false},
		"POST /practice/invites":               {secProvA, "/practice/invites", []string{"email"}, vals("email", ""), false},
		"POST /practice/invites/{id}/accept":   {secProvB, "/practice/invites/" + w.inviteA + "/accept", nil, none, false},
		"POST /practice/invites/{id}/decline":  {secProvB, "/practice/invites/" + w.inviteA + "/decline", nil, none, false},
		"POST /practice/invites/{id}/withdraw": {secProvB, "/practice/invites/" + w.inviteA + "/withdraw", nil, none, false},
		"POST /practice/members/{id}/remove":   {secProvB, "/practice/members/" + w.memberA + "/remove", nil, none, false},
		"POST /practice/leave":                 {secProvB, "/practice/leave", nil, none, false},
		"GET /account/away":                    {secStaffX, "/account/away", nil, none, false},
		"POST /account/away":                   {secStaffX, "/account/away", []string{"away_from", "away_until"}, vals("away_from", "", "away_until", ""), false},
		"POST /account/sessions/end-others":    {secProvB, "/account/sessions/end-others", nil, none, false},
		"GET /attachments/{id}":                {secProvA, "/attachments/" + w.attA, nil, none, false},
		"GET /inbox":                           {secProvA, "/inbox", []string{"before", "filter", "sent", "archived", "q", "in", "from", "to"}, vals("filter", "all", "sent", "1", "q", "claim", "from", "2026-01-01"), false},
		"GET /threads/{id}":                    {secProvA, "/threads/" + w.threadA, []string{"sent"}, vals("sent", "1"), false},
		"POST /threads/{id}/archive":           {secProvA, "/threads/" + w.threadA + "/archive", []string{"archive"}, vals("archive", "0"), false},
		"POST /threads/{id}/reply":             {secProvA, "/threads/" + w.threadA + "/reply", []string{"body", "kept_files"}, vals("body", "Noted."), true},
		"GET /compose":                         {secProvA, "/compose", []string{"to"}, vals("to", fmt.Sprintf("staff:%d", w.staffX.ID)), false},
		"POST /compose": {secProvA, "/compose", []string{"to", "subject", "body", "kept_files"},
			vals("to", fmt.Sprintf("staff:%d", w.staffX.ID), "subject", "Question", "body", "About the claim."), true},
		"GET /staff/": {secStaffX, "/staff/", []string{"before", "filter", "sent", "q", "in", "team", "from", "to", "attachment", "unopened"},
			vals("filter", "unread", "sent", "1", "q", "claim", "in", "titles", "attachment", "1"), false},
		"GET /staff/threads/{id}":        {secStaffX, "/staff/threads/" + w.threadA, []string{"sent", "saved", "reminded"}, vals("sent", "1", "saved", w.replyX), false},
		"POST /staff/threads/{id}/reply": {secStaffX, "/staff/threads/" + w.threadA + "/reply", []string{"body", "kept_files"}, vals("body", "Noted."), true},
		"GET /staff/compose":             {secStaffX, "/staff/compose", []string{"to"}, vals("to", "dr.a@clinic-a.example"), false},
		"GET /staff/compose/delivery":    {secStaffX, "/staff/compose/delivery", []string{"to"}, vals("to", "dr.a@clinic-a.example"), false},
		"POST /staff/compose": {secStaffX, "/staff/compose", []string{"to", "subject", "body", "expires_in", "kept_files"},
			vals("to", "dr.a@clinic-a.example", "subject", "Results", "body", "Attached.", "expires_in", "30"), true},
		"POST /staff/threads/{id}/notes":          {secStaffX, "/staff/threads/" + w.threadA + "/notes", []string{"note"}, vals("note", "Called the office; results promised by Friday."), false},
		"POST /staff/threads/{id}/status":         {secStaffX, "/staff/threads/" + w.threadA + "/status", []string{"status"}, vals("status", "waiting"), false},
		"POST /staff/threads/{id}/assign":         {secStaffX, "/staff/threads/" + w.threadA + "/assign", []string{"assignee"}, vals("assignee", "mate.x@plan.example"), false},
		"GET /staff/messages/{id}/recall":         {secStaffX, "/staff/messages/" + w.msgA + "/recall", nil, none, false},
		"GET /staff/providers/{id}":               {secStaffX, fmt.Sprintf("/staff/providers/%d", w.provA.ID), []string{"filter", "before", "resent", "q", "to"}, vals("filter", "mine", "q", "claim"), false},
		"POST /staff/providers/{id}/registration": {secStaffX, fmt.Sprintf("/staff/providers/%d/registration", w.provA.ID), nil, none, false},
		"POST /staff/threads/done":                {secStaffX, "/staff/threads/done?back=%2Fstaff", []string{"thread"}, vals("thread", w.threadA), false},
		"GET /staff/replies":                      {secStaffX, "/staff/replies", []string{"added", "deleted", "signature"}, vals("added", "1"), false},
		"POST /staff/replies":                     {secStaffX, "/staff/replies", []string{"team", "title", "body"}, vals("team", fmt.Sprint(w.teamX), "title", "", "body", "Hi"), false},
		"POST /staff/replies/{id}/delete":         {secStaffX, "/staff/replies/" + missingUID + "/delete", nil, none, false},
		"POST /staff/signature":                   {secStaffX, "/staff/signature", []string{"signature"}, vals("signature", "Rep X"), false},
		"POST /staff/threads/read":                {secStaffX, "/staff/threads/read?back=%2Fstaff", []string{"thread"}, vals("thread", w.threadA), false},
		"POST /staff/messages/{id}/remind":        {secStaffX, "/staff/messages/" + missingUID + "/remind", nil, none, false},
		"POST /staff/messages/{id}/recall":        {secStaffX, "/staff/messages/" + missingUID + "/recall", nil, none, false},
		"GET /admin/reauth":                       {secAdmin, "/admin/reauth", []string{"next"}, vals("next", "/admin/users"), false},
		"POST /admin/reauth":                      {secAdmin, "/admin/reauth", []string{"password", "code", "next"}, vals("password", "", "code", "", "next", "/admin/users"), false},
		"GET /admin/":                             {secAdmin, "/admin/", nil, none, false},
		"GET /admin/users":                        {secAdmin, "/admin/users", []string{"q", "role", "status", "page", "notice"}, vals("q", "rep", "role", "staff", "status", "active", "page", "0"), false},
		"GET /admin/users/{id}":                   {secAdmin, "/admin/users/" + target, []string{"notice"}, vals("notice", "Done."), false},
		"GET /admin/users/{id}/confirm":           {secAdmin, "/admin/users/" + target + "/confirm", []string{"action"}, vals("action", "end_sessions"), false},
		"POST /admin/users/{id}/actions": {secAdmin, "/admin/users/" + target + "/actions", []string{"action", "reason"},
			vals("action", "end_sessions", "reason", "Shared computer"), false},
		"GET /admin/users/{id}/role":  {secAdmin, "/admin/users/" + target + "/role", []string{"role"}, vals("role", "provider"), false},
		"POST /admin/users/{id}/role": {secAdmin, "/admin/users/" + target + "/role", []string{"role", "reason"}, vals("role", "provider", "reason", "Confirmed"), false},
		"GET /admin/staff/new":        {secAdmin, "/admin/staff/new", nil, none, false},
		"POST /admin/staff": {secAdmin, "/admin/staff", []string{"email", "name", "role", "team"}, func() url.Values {
			return url.Values{"email": {uniq("new%d@plan.example")}, "name": {"Nia Rep"}, "role": {"staff"}, "team": {fmt.Sprint(w.teamX)}}
		}, false},
		"GET /admin/teams": {secAdmin, "/admin/teams", []string{"notice"}, vals("notice", "Team updated."), false},
		"POST /admin/teams": {secAdmin, "/admin/teams", []string{"name", "line_of_business"}, func() url.Values {
			return url.Values{"name": {uniq("Team %d")}, "line_of_business": {"Medi-Cal"}}
		}, false},
		"POST /admin/teams/{id}/members":                {secAdmin, fmt.Sprintf("/admin/teams/%d/members", w.teamX), []string{"email"}, vals("email", "mate.x@plan.example"), false},
		"GET /admin/teams/{id}/replies":                 {secAdmin, fmt.Sprintf("/admin/teams/%d/replies", w.teamX), []string{"added", "deleted"}, vals("added", "1"), false},
		"POST /admin/teams/{id}/replies":                {secAdmin, fmt.Sprintf("/admin/teams/%d/replies", w.teamX), []string{"title", "body"}, vals("title", "", "body", "Hi"), false},
		"POST /admin/teams/{id}/replies/{reply}/delete": {secAdmin, fmt.Sprintf("/admin/teams/%d/replies/%s/delete", w.teamX, missingUID), nil, none, false},
		"POST /admin/teams/{id}/members/remove":         {secAdmin, fmt.Sprintf("/admin/teams/%d/members/remove", w.teamX), []string{"email"}, vals("email", "rep.y@plan.example"), false},
		"GET /admin/audit":                              {secAdmin, "/admin/audit", audit, auditBase, false},
		"GET /admin/audit.csv":                          {secAdmin, "/admin/audit.csv", audit, auditBase, false},
		"GET /admin/emergency":                          {secAdmin, "/admin/emergency", nil, none, false},
		"POST /admin/emergency": {secAdmin, "/admin/emergency", []string{"thread", "reason", "duration"},
			vals("thread", w.threadA, "reason", "Member in ER", "duration", "1h0m0s"), false},
		"GET /admin/emergency/threads/{id}": {secAdmin, "/admin/emergency/threads/" + w.threadB, nil, none, false},
		"GET /admin/keys":                   {secAdmin, "/admin/keys", []string{"notice"}, vals("notice", "Done."), false},
		"GET /admin/keys/rotate":            {secAdmin, "/admin/keys/rotate", nil, none, false},
		"POST /admin/keys/rotate":           {secAdmin, "/admin/keys/rotate", []string{"reason"}, vals("reason", "Annual rotation"), false},
		"GET /admin/domains":                {secAdmin, "/admin/domains", []string{"notice"}, vals("notice", "Done."), false},
		"POST /admin/domains": {secAdmin, "/admin/domains", []string{"domain", "policy", "reason"},
			vals("domain", "clinic-z.example", "policy", "portal", "reason", "Consumer mail"), false},
		"POST /admin/domains/check": {secAdmin, "/admin/domains/check", []string{"domain"}, vals("domain", w.portalDomain), false},
	}
}

// servedRoutes are the table's GET and POST routes: the portal serves no
// other method (knownMethods answers them 501 before routing; see
// TestSecurityTraceAndUnknownMethodsAreRefusedOnEveryRoute).
func servedRoutes(t *testing.T, s *site) []string {
	var out []string
	for _, r := range routeTable(t, s) {
		if m := strings.Fields(r)[0]; m == http.MethodGet || m == http.MethodPost {
			out = append(out, r)
		}
	}
	return out
}

// actor is the browser of an inputRoute's actor, a fresh one for each
// anonymous request: a sign-in must not carry over.
func (w *secWorld) actor(name string) *browser {
	if name == secNobody {
		return w.browser()
	}
	return w.as[name]
}

// sendInput sends route's request with vals, as a query (GET) or form.
func (w *secWorld) sendInput(r inputRoute, method, path string, vals url.Values) page {
	w.t.Helper()
	b := w.actor(r.actor)
	switch {
	case method == http.MethodGet:
		if len(vals) > 0 {
			path += "?" + vals.Encode()
		}
		return b.get(path)
	case r.multipart:
		return b.postMessage(path, vals)
	default:
		return b.post(path, vals)
	}
}

// withPathParam is route's path with its {id} or {token} replaced by v.
func withPathParam(route, v string) string {
	pattern := strings.Fields(route)[1]
	return strings.NewReplacer("{id}", url.PathEscape(v), "{token}", url.PathEscape(v)).Replace(pattern)
}

// forEachInput sends every route of the table whose method is one of
// methods once per value that values gives for each of its parameters
// (the others at their accepted values), for its path parameter (named
// "{id}"), and as an extra parameter ("x") for routes that read none;
// check judges every answer.
func (w *secWorld) forEachInput(methods []string, values func(param string) []string, check func(what string, p page)) int {
	w.t.Helper()
	routes := servedRoutes(w.t, w.site)
	table := w.inputRoutes()
	checkCovered(w.t, "inputs", routes, slices.Collect(maps.Keys(table)))
	sent := 0
	for _, route := range routes {
		r, ok := table[route]
		if !ok {
			continue
		}
		method := strings.Fields(route)[0]
		if !slices.Contains(methods, method) {
			continue
		}
		params := r.params
		if len(params) == 0 {
			params = []string{"x"}
		}
		for _, name := range params {
			for _, v := range values(name) {
				vals := r.base()
				vals.Set(name, v)
				check(fmt.Sprintf("%s %s=%q", route, name, v), w.sendInput(r, method, r.path, vals))
				sent++
			}
		}
		if strings.Contains(route, "{id}") || strings.Contains(route, "{token}") {
			for _, v := range values("{id}") {
				check(fmt.Sprintf("%s with the path parameter %q", route, v), w.sendInput(r, method, withPathParam(route, v), r.base()))
				sent++
			}
		}
	}
	return sent
}

// sqlMeta are SQL metacharacters and classic injections.
var sqlMeta = []string{`' OR 1=1 --`, `"; DROP TABLE users; --`, `\`, `%`, `_`}

// TestSecuritySQLMetacharactersInEveryParameter puts SQL metacharacters
// into every query and form parameter of every route of the table, and
// into every path parameter, as a user of the route's role: never a 5xx,
// never a database error on the page, no query changes anything (but the
// reading it records), and the data is still all there afterwards. First,
// what they could do if concatenated into SQL: sign in without the
// password, match every user or audit event in a search ("%" and "_" are
// LIKE wildcards), mail a reset to everyone, or drop a table.
// SECURITY.md §4 noted there was no per-parameter test; this is it.
func TestSecuritySQLMetacharactersInEveryParameter(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	admin := w.as[secAdmin]
	users, threads, messages := w.count(`SELECT count(*) FROM users`), w.count(`SELECT count(*) FROM threads`), w.count(`SELECT count(*) FROM messages`)

	// Sign-in: an injection is not a password.
	for _, c := range [][2]string{
		{`' OR 1=1 --`, `' OR 1=1 --`}, {`admin@plan.example' --`, "x"}, {`admin@plan.example`, `' OR '1'='1`},
		{`admin@plan.example`, `anything' OR 'x'='x`}, {`"admin@plan.example"--@x.example`, "x"},
	} {
		b := w.browser()
		p := b.login(c[0], c[1])
		must(t, fmt.Sprintf("sign-in as %q / %q refused: %d", c[0], c[1], p.Status), p.Status == http.StatusUnauthorized || p.Status == http.StatusUnprocessableEntity)
		must(t, fmt.Sprintf("…and not signed in after %q", c[0]), b.get("/account").Status == http.StatusSeeOther)
	}

	// Searches take the characters literally.
	rows := func(p page) int { return strings.Count(p.Body, `data-label="Email"`) }
	all := rows(admin.get("/admin/users"))
	must(t, fmt.Sprintf("the user list shows users (%d)", all), all >= 8)
	must(t, "a search finds what holds the text", rows(admin.get("/admin/users?q=rep.")) == 2 && rows(admin.get("/admin/users?q=.x@plan")) == 2)
	for _, q := range []string{"%", "_", "%%", "%_%", `' OR 1=1 --`, `' OR '1'='1`, `\`, "*", ".*"} {
		if n := rows(admin.get("/admin/users?" + url.Values{"q": {q}}.Encode())); n != 0 {
			t.Errorf("user search for %q matches %d users (want none: no name or address holds it)", q, n)
		}
	}
	must(t, "an underscore matches only where it is", rows(admin.get("/admin/users?q=a_a")) == 0)
	events := func(p page) int { return strings.Count(p.Body, "<tr") - 1 }
	for _, f := range []string{"actor", "subject", "action"} {
		for _, q := range []string{"%", "_", `' OR 1=1 --`, "%.%"} {
			if n := events(admin.get("/admin/audit?" + url.Values{f: {q}}.Encode())); n > 0 {
				t.Errorf("audit filter %s=%q matches %d events", f, q, n)
			}
		}
	}
	must(t, "the unfiltered audit log has events", events(admin.get("/admin/audit")) > 5)

	// A reset asked for a wildcard address mails nobody.
	settle(t, w.site)
	mails := len(w.mail.Messages())
	for _, e := range []string{"%@%", "%@clinic-a.example", "_@_._", `' OR 1=1 --@x.example`} {
		w.browser().post("/forgot-password", url.Values{"email": {e}})
	}
	settle(t, w.site)
	must(t, "no reset mailed to a wildcard", len(w.mail.Messages()) == mails)

	// Every parameter of every route (after the searches: it leaves users
	// and teams named "%" and "_" behind).
	check := func(what string, p page) {
		if p.Status >= 500 {
			t.Errorf("%s: %d", what, p.Status)
		}
		if l := leaks(p.Body); l != "" {
			t.Errorf("%s: the page shows %q", what, l)
		}
	}
	meta := func(string) []string { return sqlMeta }
	// Queries change nothing (but the reading they record).
	settle(t, w.site)
	before := stateWithout(t, w.site, "sessions", "message_reads", "audit_events")
	reads := w.count(`SELECT count(*) FROM audit_events WHERE action <> ALL($1)`, readingRecords)
	sent := w.forEachInput([]string{http.MethodGet}, meta, check)
	settle(t, w.site)
	if after := stateWithout(t, w.site, "sessions", "message_reads", "audit_events"); fmtState(before, after) != "[]" {
		t.Errorf("queries with SQL metacharacters changed %s", fmtState(before, after))
	}
	must(t, "queries with SQL metacharacters recorded nothing but reading", w.count(`SELECT count(*) FROM audit_events WHERE action <> ALL($1)`, readingRecords) == reads)
	sent += w.forEachInput([]string{http.MethodPost}, meta, check)
	t.Logf("%d requests with SQL metacharacters", sent)
	settle(t, w.site)
	storedState(t, w.site) // every table is still there
	must(t, "no user is gone", w.count(`SELECT count(*) FROM users`) >= users && w.count(`SELECT count(*) FROM users WHERE email = 'admin@plan.example'`) == 1)
	must(t, "no thread or message is gone", w.count(`SELECT count(*) FROM threads`) >= threads && w.count(`SELECT count(*) FROM messages`) >= messages)
}

// badValues are what a broken client, a scanner or a hand-edited URL
// sends, by the parameter they are aimed at: ids that are not ids (and
// path tricks) for path parameters, cursors, pages, dates, numbers and
// durations out of range or malformed for the parameters parsed as such;
// every parameter also gets a huge value.
func badValues(param string) []string {
	numbers := []string{"-1", "99999999999999999999999", "9223372036854775807", "184467440737095517", "NaN"}
	switch param {
	case "{id}":
		return []string{"x", "99999999999999999999999", "00000000-0000-0000-0000-00000000000g", missingUID + "x",
			"../../etc/passwd", "\xff", strings.Repeat("A", 4000)}
	case "before":
		return []string{"-1", "99999999999999999999999", "1_zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "-1_" + missingUID,
			"9223372036854775807_" + missingUID, "99999999999999999999_" + missingUID, "_"}
	case "page", "team", "expires_in":
		return numbers
	case "from", "to":
		return []string{"2026-13-45", "0000-00-00", "99999-01-01", "-0001-01-01"}
	case "thread":
		return []string{"x", missingUID, missingUID + "x", "00000000-0000-0000-0000-00000000000g"}
	case "duration":
		return []string{"-1h", "999999999h", "1ns"}
	case "action", "role", "status", "filter", "policy", "reason", "changed":
		return []string{"null", "ADMIN", "admin "}
	}
	return []string{strings.Repeat("A", 8000)}
}

// TestSecurityErrorsShowNoStackOrSQL provokes errors everywhere: every
// parameter and path parameter of every route gets the bad values above
// (ids that are not ids, invalid cursors, pages, dates, numbers and
// durations), every form route gets malformed bodies (bad encoding, JSON,
// no content type, unknown and repeated fields, a form of the other kind;
// for message forms no boundary, a truncated or headless part, a broken
// part header, a path as file name), and unknown paths are asked for. No
// answer may be a 5xx, no page may show a Go stack, a source position, the
// driver's name or a database error, and nothing may be logged as an
// internal error. Bytes that are not text are TestValuesThatAreNotTextAreRefusedBesideTheirField's;
// TestPanicGivesSafeErrorPageWithoutStack covers a panicking handler,
// TestDatabaseOutageGetsTheBusyPageNeverABare500 the database away.
func TestSecurityErrorsShowNoStackOrSQL(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	fail := func(what string, p page) {
		t.Helper()
		if p.Status >= 500 {
			t.Errorf("%s: %d", what, p.Status)
		}
		if l := leaks(p.Body); l != "" {
			t.Errorf("%s: the page shows %q", what, l)
		}
	}
	sent := w.forEachInput([]string{http.MethodGet, http.MethodPost}, func(param string) []string {
		if param == "{id}" {
			return badValues(param)
		}
		return append(badValues(param), badValues("any")...)
	}, fail)

	// Malformed bodies on every form route.
	table := w.inputRoutes()
	const mp = "multipart/form-data; boundary=abc"
	malformed := map[bool][]struct{ name, contentType, body string }{
		false: { // forms
			{"bad percent-encoding", "application/x-www-form-urlencoded", "email=%zz&password=%&reason=%G0&name=%"},
			{"JSON", "application/json", `{"email":"a@b.example","reason":{"$ne":null}}`},
			{"no content type", "", "email=a@b.example"},
			{"unknown and repeated fields", "application/x-www-form-urlencoded", "email=a@b.example&email=c@d.example&reason=a&reason=b&zzz=1&" + strings.Repeat("k=v&", 500)},
			{"a multipart body", mp, "--abc\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.example\r\n--abc--\r\n"},
		},
		true: { // message forms
			{"multipart without a boundary", "multipart/form-data", "--x\r\n\r\n"},
			{"multipart, truncated", mp, "--abc\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhi"},
			{"multipart, part without headers", mp, "--abc\r\n\r\nhi\r\n--abc--\r\n"},
			{"multipart, file name that is a path", mp, "--abc\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nhi\r\n--abc\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"../../../etc/passwd\"\r\n\r\nroot\r\n--abc--\r\n"},
			{"multipart, broken header", mp, "--abc\r\nContent-Disposition: form-data; name=\"body\r\nX: \x00\r\n\r\nhi\r\n--abc--\r\n"},
			{"an urlencoded form", "application/x-www-form-urlencoded", "body=hi&to=a@b.example"},
		},
	}
	for _, route := range servedRoutes(t, w.site) {
		r, ok := table[route]
		if !ok || !strings.HasPrefix(route, "POST ") {
			continue
		}
		for _, m := range malformed[r.multipart] {
			b := w.actor(r.actor)
			h := http.Header{"Content-Type": {m.contentType}}
			if m.contentType == "" {
				h = http.Header{"Content-Type": nil}
			}
			fail(fmt.Sprintf("%s with %s", route, m.name), b.do(http.MethodPost, r.path, nil, h, strings.NewReader(m.body)))
			sent++
		}
	}

	// Unknown paths, and paths that are not text.
	for _, path := range []string{"/admin/../../etc/passwd", "/%FF%FE", "/threads/%00", "/attachments/%25", "/staff/threads/" + missingUID + "/extra",
		"/.git/config", "/wp-login.php", "/static/../../go.mod", "/static/%2e%2e/%2e%2e/go.mod", "/" + strings.Repeat("a/", 2000)} {
		for _, who := range []string{secNobody, secStaffX, secAdmin} {
			fail("GET "+path+" as "+who, w.as[who].get(path))
			sent++
		}
	}
	t.Logf("%d requests that provoke errors", sent)
	settle(t, w.site)
	if logs := w.logs.String(); strings.Contains(logs, `"level":"ERROR"`) {
		i := strings.Index(logs, `"level":"ERROR"`)
		t.Errorf("an error was logged (a 500 in the making): %s", excerpt(logs[max(0, i-200):]))
	}
}
