package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// xss is the attack a field carries: a script element, an attribute
// break-out into an event handler, and a javascript: URL, after a tag that
// says which field it came from.
func xss(tag string) string {
	return tag + ` <script>alert(1)</script> "><img src=x onerror=alert(1)> javascript:alert(1)`
}

// xssFile is the same for a file name, which cannot hold a slash or a
// double quote (they are cleaned away): what is left is still markup.
func xssFile(tag string) string {
	return tag + ` <img src=x onerror=alert(1)><script>alert(1).txt`
}

// checkEscaped fails unless the page carries none of the attacks as markup
// (no script element but the portal's own files, no event-handler
// attribute, no javascript: URL, none of the payloads' raw tags) and shows
// every value of shown as text, so it did display them, escaped.
func checkEscaped(t *testing.T, where string, body string, shown ...string) {
	t.Helper()
	for _, raw := range []string{"<script>alert", "<img src=x ", "onerror=alert(1)>"} {
		if strings.Contains(body, raw) {
			t.Errorf("%s: raw markup %q in the page", where, raw)
		}
	}
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var texts []string
	for n := range doc.Descendants() {
		switch n.Type {
		case html.TextNode:
			texts = append(texts, n.Data)
		case html.ElementNode:
			if n.Data == "script" && !strings.HasPrefix(attr(n, "src"), "/static/") {
				t.Errorf("%s: a script element that is not the portal's file: %q", where, attr(n, "src"))
			}
			for _, a := range n.Attr {
				texts = append(texts, a.Val)
				if strings.HasPrefix(strings.ToLower(a.Key), "on") {
					t.Errorf("%s: event handler attribute %s=%q on <%s>", where, a.Key, a.Val, n.Data)
				}
				switch strings.ToLower(a.Key) {
				case "href", "src", "action", "formaction", "data", "srcdoc", "poster", "xlink:href":
					v := strings.ToLower(strings.Map(func(r rune) rune {
						if r <= ' ' {
							return -1
						}
						return r
					}, a.Val))
					if strings.HasPrefix(v, "javascript:") || strings.HasPrefix(v, "data:") || strings.HasPrefix(v, "vbscript:") {
						t.Errorf("%s: <%s %s=%q>", where, n.Data, a.Key, a.Val)
					}
				}
			}
		}
	}
	all := strings.Join(texts, "\x00")
	for _, v := range shown {
		if !strings.Contains(all, v) {
			t.Errorf("%s: does not show %.30q… (the check would prove nothing)", where, v)
		}
	}
}

// inJSON is s as a JSON string shows it (the audit log's details).
func inJSON(s string) string { return strings.ReplaceAll(s, `"`, `\"`) }

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// TestSecurityStoredAndReflectedXSSIsEscapedEverywhere puts script, an
// attribute break-out and a javascript: URL into every field the portal
// shows again, stored (subjects, bodies and file names from both sides,
// the names people register with, a staff name and a team and its line of
// business typed by an admin, the reasons of admin actions, emergency
// access and domain policies) and reflected (search boxes, filters,
// notices, cursors, the values of refused forms, return paths), and reads
// every page that shows them as each viewer: inboxes, threads, compose,
// the admin console's users, teams, staff form, audit log, emergency and
// domain pages, an emergency reading. Each must show the value as text and
// carry none of it as markup. Uploaded HTML and SVG download as inert
// files, and no email in the sink carries any of it. The existing
// TestRawTextIsEscaped covers a staff subject and body on one page.
func TestSecurityStoredAndReflectedXSSIsEscapedEverywhere(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	admin := w.as[secAdmin]

	// Stored: an admin makes a team and a representative in it.
	if p := admin.post("/admin/teams", url.Values{"name": {xss("TEAM")}, "line_of_business": {xss("LOB")}}); p.Status != http.StatusSeeOther {
		t.Fatalf("team with markup in its name: %d", p.Status)
	}
	teamID := w.queryString(`SELECT id::text FROM teams WHERE name = $1`, xss("TEAM"))
	p := admin.post("/admin/staff", url.Values{"email": {"s.xss@plan.example"}, "name": {xss("STAFF")}, "role": {"staff"}, "team": {teamID}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("staff with markup in the name: %d", p.Status)
	}
	staffPage := strings.SplitN(p.Location, "?", 2)[0]
	checkEscaped(t, "admin: new staff account", admin.get(p.Location).Body, xss("STAFF"), xss("TEAM"))
	_, link := w.mailTo("s.xss@plan.example", "registration", "/register/")
	staff := w.browser()
	if p := staff.register(link, xss("STAFF"), goodPassword); p.Status != http.StatusSeeOther {
		t.Fatalf("staff registration with markup in the name: %d", p.Status)
	}

	// The representative writes to a new provider, with files whose names
	// and contents are markup.
	p = staff.postMessage("/staff/compose", url.Values{"to": {"p.xss@clinic-x.example"}, "subject": {xss("SUBJ")}, "body": {xss("BODY") + "\njavascript:alert(2)"}},
		file{xssFile("FILE"), []byte("plain")}, file{"page.html", []byte("<script>alert(1)</script>")}, file{"pic.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("staff compose with markup: %d", p.Status)
	}
	t1 := threadID(t, p.Location)
	_, link = w.mailTo("p.xss@clinic-x.example", "[SECURE]", "/register/")
	prov := w.browser()
	if p := prov.register(link, xss("PROV"), goodPassword); p.Status != http.StatusSeeOther {
		t.Fatalf("provider registration with markup in the name: %d", p.Status)
	}
	if p := prov.postMessage("/threads/"+t1+"/reply", url.Values{"body": {xss("PREPLY")}}, file{xssFile("PFILE"), []byte("reply file")}); p.Status != http.StatusSeeOther {
		t.Fatalf("provider reply with markup: %d", p.Status)
	}
	p = prov.postMessage("/compose", url.Values{"to": {"team:" + teamID}, "subject": {xss("PSUBJ")}, "body": {xss("PBODY")}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("provider compose to the team: %d", p.Status)
	}
	t2 := threadID(t, p.Location)

	// The provider's profile, typed as markup.
	if p := prov.post("/account/profile", url.Values{"name": {xss("PROV")}, "practice": {xss("PRACTICE")}, "phone": {""}, "language": {"en"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("profile with markup: %d", p.Status)
	}
	provPage := "/staff/providers/" + w.queryString(`SELECT id::text FROM users WHERE email = 'p.xss@clinic-x.example'`)

	// The representative's saved reply and signature, typed as markup.
	if p := staff.post("/staff/replies", url.Values{"team": {teamID}, "title": {xss("RTITLE")}, "body": {xss("RBODY")}}); p.Status != http.StatusSeeOther {
		t.Fatalf("saved reply with markup: %d", p.Status)
	}
	if p := staff.post("/staff/signature", url.Values{"signature": {xss("SIG")}}); p.Status != http.StatusSeeOther {
		t.Fatalf("signature with markup: %d", p.Status)
	}
	savedID := w.queryString(`SELECT id::text FROM saved_replies WHERE title = $1`, xss("RTITLE"))

	// Admins' reasons.
	if p := admin.post(fmt.Sprintf("/admin/users/%d/actions", w.provB.ID), url.Values{"action": {"end_sessions"}, "reason": {xss("R1")}}); p.Status != http.StatusSeeOther {
		t.Fatalf("admin action with markup in the reason: %d", p.Status)
	}
	if p := admin.post("/admin/emergency", url.Values{"thread": {t1}, "reason": {xss("R2")}, "duration": {"1h0m0s"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("emergency access with markup in the reason: %d", p.Status)
	}
	if p := admin.post("/admin/domains", url.Values{"domain": {"xss-clinic.example"}, "policy": {"portal"}, "reason": {xss("R3")}}); p.Status != http.StatusSeeOther {
		t.Fatalf("domain policy with markup in the reason: %d", p.Status)
	}
	// And an attacker at the door: what they type is audited.
	w.browser().login("nobody@clinic-x.example", xss("PW"))
	settle(t, w.site)

	// Every page that shows them, as each of its viewers.
	sThread := staff.get("/staff/threads/" + t1)
	stored := []struct {
		who   string
		b     *browser
		path  string
		shown []string
	}{
		{"staff", staff, "/staff", []string{xss("SUBJ"), xss("PSUBJ"), xss("PROV")}},
		{"staff", staff, "/staff?filter=awaiting", []string{xss("PSUBJ")}},
		{"staff", staff, "/staff/threads/" + t1, []string{xss("SUBJ"), xss("BODY"), xssFile("FILE"), xss("PREPLY"), xssFile("PFILE"), xss("PROV"), xss("STAFF")}},
		{"staff", staff, "/staff/threads/" + t2, []string{xss("PSUBJ"), xss("PBODY"), xss("PROV")}},
		{"staff", staff, "/staff/compose", []string{xss("STAFF")}},
		{"staff", staff, "/staff/replies", []string{xss("RTITLE"), xss("RBODY"), xss("SIG"), xss("TEAM")}},
		{"staff", staff, provPage, []string{xss("PROV"), xss("PRACTICE")}},
		{"staff", staff, "/staff/threads/" + t1 + "?saved=" + savedID, []string{xss("RTITLE"), xss("RBODY"), xss("SIG")}},
		{"staff", staff, "/account", []string{xss("STAFF")}},
		{"provider", prov, "/inbox", []string{xss("SUBJ"), xss("PSUBJ"), xss("STAFF"), xss("TEAM")}},
		{"provider", prov, "/threads/" + t1, []string{xss("SUBJ"), xss("BODY"), xssFile("FILE"), xss("PREPLY"), xss("STAFF")}},
		{"provider", prov, "/threads/" + t2, []string{xss("PSUBJ"), xss("PBODY"), xss("TEAM")}},
		{"provider", prov, "/compose", []string{xss("STAFF"), xss("TEAM")}},
		{"provider", prov, "/account", []string{xss("PROV"), xss("PRACTICE")}},
		{"provider", prov, "/account/profile", []string{xss("PROV"), xss("PRACTICE")}},
		{"admin", admin, "/admin/users", []string{xss("STAFF"), xss("PROV")}},
		{"admin", admin, staffPage, []string{xss("STAFF"), xss("TEAM")}},
		{"admin", admin, "/admin/teams", []string{xss("TEAM"), xss("LOB"), xss("STAFF")}},
		{"admin", admin, "/admin/staff/new", []string{xss("TEAM")}},
		{"admin", admin, "/admin/audit", []string{inJSON(xss("R1")), inJSON(xss("R3"))}}, // the event's detail, as JSON
		{"admin", admin, "/admin/audit?action=admin.emergency_access", []string{inJSON(xss("R2"))}},
		{"admin", admin, "/admin/emergency", []string{xss("R2")}},
		{"admin", admin, "/admin/emergency/threads/" + t1, []string{xss("SUBJ"), xss("BODY"), xssFile("FILE"), xss("PROV")}},
		{"admin", admin, "/admin/domains", []string{xss("R3")}},
	}
	for _, c := range stored {
		p := c.b.get(c.path)
		if p.Status != http.StatusOK {
			t.Errorf("%s %s: %d", c.who, c.path, p.Status)
			continue
		}
		checkEscaped(t, c.who+" "+c.path, p.Body, c.shown...)
	}

	// Files: the names are cleaned and quoted for the header; HTML and SVG
	// are served as inert downloads that a browser neither renders nor
	// sniffs.
	links := attachmentLinks(sThread.Body)
	for name, wantType := range map[string]string{xssFile("FILE"): "text/plain", "page.html": "application/octet-stream", "pic.svg": "application/octet-stream"} {
		d := prov.get(links[name])
		h := d.Header
		cd := h.Get("Content-Disposition")
		if d.Status != http.StatusOK || h.Get("Content-Type") != wantType || !strings.HasPrefix(cd, "attachment;") ||
			h.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(h.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("download of %q: %d, type %q, disposition %q, nosniff %q, CSP %q", name, d.Status, h.Get("Content-Type"), cd,
				h.Get("X-Content-Type-Options"), h.Get("Content-Security-Policy"))
		}
		if strings.ContainsAny(cd, "\r\n") || strings.Count(cd, `"`) != 2 {
			t.Errorf("download of %q: Content-Disposition %q breaks its line or its quoting", name, cd)
		}
	}
	csv := admin.get("/admin/audit.csv")
	must(t, "the audit export is a CSV download, never a page: "+csv.Header.Get("Content-Type"),
		strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") && strings.HasPrefix(csv.Header.Get("Content-Disposition"), "attachment"))

	// Reflected: every query value a page shows again.
	uid := fmt.Sprint(w.provA.ID)
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}
	reflected := []struct {
		b     *browser
		path  string
		shown []string
	}{
		{admin, "/admin/users?" + q("q", xss("Q"), "role", xss("ROLE"), "status", xss("STATUS"), "page", xss("PAGE"), "notice", xss("NOTICE")), []string{xss("Q"), xss("NOTICE")}},
		{admin, "/admin/users/" + uid + "?" + q("notice", xss("NOTICE")), []string{xss("NOTICE")}},
		{admin, "/admin/users/" + uid + "/confirm?" + q("action", xss("ACTION")), nil},
		{admin, "/admin/users/" + uid + "/role?" + q("role", xss("ROLE")), nil},
		{admin, "/admin/teams?" + q("notice", xss("NOTICE")), []string{xss("NOTICE")}},
		{admin, "/admin/keys?" + q("notice", xss("NOTICE")), []string{xss("NOTICE")}},
		{admin, "/admin/domains?" + q("notice", xss("NOTICE")), []string{xss("NOTICE")}},
		{admin, "/admin/audit?" + q("actor", xss("ACTOR"), "subject", xss("SUBJECT"), "action", xss("ACT")), []string{xss("ACTOR"), xss("SUBJECT"), xss("ACT")}},
		{admin, "/admin/audit?" + q("thread", xss("THREAD"), "from", xss("FROM"), "to", xss("TO")), []string{xss("THREAD"), xss("FROM"), xss("TO")}},
		{admin, "/admin/audit.csv?" + q("from", xss("FROM")), nil},
		{admin, "/admin/reauth?" + q("next", "/"+xss("NEXT")), []string{"/" + xss("NEXT")}},
		{staff, "/staff?" + q("filter", xss("FILTER"), "before", xss("BEFORE"), "sent", xss("SENT")), nil},
		{staff, "/staff/compose?" + q("to", xss("TO")), []string{xss("TO")}},
		{staff, "/staff/compose/delivery?" + q("to", xss("TO")), nil},
		{prov, "/inbox?" + q("filter", xss("FILTER"), "before", xss("BEFORE")), nil},
		{staff, "/staff?" + q("q", xss("Q"), "in", xss("IN"), "from", xss("FROM"), "to", xss("TO"), "team", xss("TEAM")), []string{xss("Q"), xss("FROM"), xss("TO")}},
		{prov, "/inbox?" + q("q", xss("Q")), []string{xss("Q")}},
		{prov, "/compose?" + q("to", xss("TO")), nil},
		{prov, "/threads/" + t1 + "?" + q("sent", xss("SENT")), nil},
		{prov, "/account?" + q("changed", xss("CHANGED")), nil},
		{w.browser(), "/tls-check?" + q("domain", xss("DOMAIN")), []string{xss("DOMAIN")}},
		{w.browser(), "/login?" + q("next", "/"+xss("NEXT"), "reason", xss("REASON")), []string{"/" + xss("NEXT")}},
		{w.browser(), "/help?" + q("x", xss("X")), nil},
		{w.browser(), "/" + url.PathEscape(xss("PATH")), nil},
		{w.browser(), "/register/" + url.PathEscape(xss("TOKEN")), nil},
		{w.browser(), "/reset-password/" + url.PathEscape(xss("TOKEN")), nil},
	}
	for _, c := range reflected {
		p := c.b.get(c.path)
		if p.Status >= 500 {
			t.Errorf("GET %s: %d", c.path, p.Status)
		}
		if strings.Contains(c.path, "/delivery?") || strings.Contains(c.path, "audit.csv") {
			// Not pages: JSON escapes < and >, and the export refuses the
			// filter (422 page) or downloads.
			if strings.Contains(p.Body, "<script>alert") || strings.Contains(p.Body, "<img src=x") {
				t.Errorf("GET %s: raw markup in %q", c.path, excerpt(p.Body))
			}
			if strings.Contains(c.path, "/delivery?") && p.Header.Get("Content-Type") != "application/json" {
				t.Errorf("GET %s: Content-Type %q", c.path, p.Header.Get("Content-Type"))
			}
			continue
		}
		checkEscaped(t, "GET "+c.path, p.Body, c.shown...)
	}

	// Reflected by refused forms: the typed values come back in the form.
	posts := []struct {
		b         *browser
		path      string
		form      url.Values
		multipart bool
		shown     []string
	}{
		{w.browser(), "/login", url.Values{"email": {xss("EMAIL")}, "password": {"x"}, "next": {"/" + xss("NEXT")}}, false, []string{xss("EMAIL"), "/" + xss("NEXT")}},
		{w.browser(), "/forgot-password", url.Values{"email": {xss("EMAIL")}}, false, []string{xss("EMAIL")}},
		{w.browser(), "/register/" + w.regToken, url.Values{"name": {xss("NAME")}, "password": {"short"}, "password_confirm": {"other"}}, false, []string{xss("NAME")}},
		{w.browser(), "/reset-password/" + w.resetToken, url.Values{"password": {xss("PW")}, "password_confirm": {"x"}}, false, nil},
		{staff, "/staff/compose", url.Values{"to": {xss("TO")}, "subject": {xss("SUBJ2")}, "body": {xss("BODY2")}}, true, []string{xss("TO"), xss("SUBJ2"), xss("BODY2")}},
		{staff, "/staff/compose", url.Values{"to": {"p.xss@clinic-x.example"}, "subject": {xss("SUBJ2") + "\x01"}, "body": {xss("BODY2")}}, true, []string{xss("BODY2")}},
		{prov, "/compose", url.Values{"to": {xss("TO")}, "subject": {xss("SUBJ2")}, "body": {xss("BODY2")}}, true, []string{xss("SUBJ2"), xss("BODY2")}},
		{prov, "/threads/" + t1 + "/reply", url.Values{"body": {" "}}, true, nil},
		{admin, "/admin/staff", url.Values{"email": {xss("EMAIL")}, "name": {xss("NAME")}, "role": {"staff"}}, false, []string{xss("EMAIL"), xss("NAME")}},
		{admin, "/admin/teams", url.Values{"name": {""}, "line_of_business": {xss("LOB2")}}, false, []string{xss("LOB2")}},
		{admin, "/admin/teams/" + teamID + "/members", url.Values{"email": {xss("EMAIL")}}, false, nil},
		{admin, "/admin/emergency", url.Values{"thread": {xss("THREAD")}, "reason": {xss("REASON")}, "duration": {xss("DURATION")}}, false, []string{xss("THREAD"), xss("REASON")}},
		{admin, "/admin/domains", url.Values{"domain": {xss("DOMAIN")}, "policy": {xss("POLICY")}, "reason": {xss("REASON")}}, false, []string{xss("DOMAIN"), xss("REASON")}},
		{admin, "/admin/domains/check", url.Values{"domain": {xss("DOMAIN")}}, false, []string{xss("DOMAIN")}},
		{admin, "/admin/users/" + uid + "/actions", url.Values{"action": {"disable"}, "reason": {""}}, false, nil},
		{admin, "/admin/users/" + uid + "/role", url.Values{"role": {xss("ROLE")}, "reason": {xss("REASON")}}, false, nil},
		{admin, "/admin/keys/rotate", url.Values{"reason": {""}}, false, nil},
		{admin, "/admin/reauth", url.Values{"password": {"wrong password here"}, "next": {"/" + xss("NEXT")}}, false, []string{"/" + xss("NEXT")}},
	}
	for _, c := range posts {
		var p page
		if c.multipart {
			p = c.b.postMessage(c.path, c.form)
		} else {
			p = c.b.post(c.path, c.form)
		}
		if p.Status < 400 || p.Status >= 500 {
			t.Errorf("POST %s refused with %d (want a 4xx page)", c.path, p.Status)
		}
		checkEscaped(t, fmt.Sprintf("POST %s (%d)", c.path, p.Status), p.Body, c.shown...)
	}

	// No email carries any of it.
	settle(t, w.site)
	mails := w.mail.Messages()
	for _, m := range mails {
		for _, bit := range []string{"<script>alert", "<img src=x", "onerror=alert", "javascript:alert"} {
			if strings.Contains(string(m.Raw), bit) {
				t.Errorf("email %q to %v carries %q", m.Subject, m.To, bit)
			}
		}
		if m.HTML != "" {
			checkEscaped(t, "email "+m.Subject, m.HTML)
		}
	}
	must(t, fmt.Sprintf("emails were checked (%d)", len(mails)), len(mails) >= 6)
	t.Logf("%d stored views, %d reflected GETs, %d refused forms, %d emails", len(stored), len(reflected), len(posts), len(mails))
}
