package web_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// injectedHeader finds a header line that only an injection would start,
// anywhere in a message (its own header or a MIME part's).
var injectedHeader = regexp.MustCompile(`(?mi)^(bcc|x-injected|set-cookie)\s*:`)

// checkMailHeaders fails unless the header block of raw is well formed:
// CRLF line ends only, every line a field or a folded continuation, one
// From, To and Subject each, no injected field anywhere in the message.
func checkMailHeaders(t *testing.T, what string, raw []byte) {
	t.Helper()
	head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Errorf("%s: no end of header", what)
		return
	}
	if bytes.Count(head, []byte("\r")) != bytes.Count(head, []byte("\n")) || bytes.Contains(head, []byte("\r\r")) {
		t.Errorf("%s: a bare CR or LF in the header", what)
	}
	field := regexp.MustCompile(`^[!-9;-~]+:`)
	seen := map[string]int{}
	for _, line := range strings.Split(string(head), "\r\n") {
		switch {
		case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
		case field.MatchString(line):
			seen[textproto.CanonicalMIMEHeaderKey(strings.SplitN(line, ":", 2)[0])]++
		default:
			t.Errorf("%s: header line %q is neither a field nor a continuation", what, line)
		}
	}
	for _, f := range []string{"From", "To", "Subject"} {
		if seen[f] != 1 {
			t.Errorf("%s: %d %s fields", what, seen[f], f)
		}
	}
	if m := injectedHeader.Find(raw); m != nil {
		t.Errorf("%s: injected header line %q", what, m)
	}
}

// crlfs are the line breaks an attacker types into a one-line field.
var crlfs = []string{"\r\nBcc: evil@evil.example", "\nBcc: evil@evil.example", "\rBcc: evil@evil.example", "\u0085Bcc: evil@evil.example",
	"\r\nX-Injected: 1\r\n\r\n<html>body"}

// TestSecurityCRLFNeverReachesMailOrHTTPHeaders types line breaks into
// every one-line value that could end up in a header: a representative's
// name (typed by an admin, and at registration), a team's name, a
// message's subject and recipient, a file's name (RFC 2231 lets a
// multipart header carry CR LF encoded), the address of the forgotten
// password form, and return paths, notices and paths reflected by the web
// pages. Line breaks in names, subjects and addresses are refused with
// 422 and nothing stored; names and subjects that hold header syntax
// without a line break (quotes, angle brackets, commas, "Bcc:", U+2028)
// are accepted and travel as text. The raw messages at the sinks (the
// provider's own server for a TLS-first delivery, which carries subject,
// sender name and file names; the relay for notifications) have one From,
// To and Subject, no injected field, and only their intended recipient;
// no HTTP answer grows a header. The delivery package's own
// TestHeaderInjectionIsRefused checks the MIME writer directly.
func TestSecurityCRLFNeverReachesMailOrHTTPHeaders(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newTLSSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "100000"})
	ctx := context.Background()
	_, admin := s.admin("admin@plan.example")
	stored := func() (n int) {
		s.app.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users) + (SELECT count(*) FROM teams) + (SELECT count(*) FROM threads) + (SELECT count(*) FROM messages)`).Scan(&n)
		return n
	}

	if p := admin.post("/admin/teams", url.Values{"name": {"Team Delivery"}, "line_of_business": {"Medi-Cal"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("team: %d", p.Status)
	}
	var teamID int64
	s.app.Pool.QueryRow(ctx, `SELECT id FROM teams WHERE name = 'Team Delivery'`).Scan(&teamID)

	// Refused: line breaks in names, addresses and subjects.
	before := stored()
	for _, br := range crlfs {
		for _, f := range []url.Values{
			{"email": {"eve@plan.example"}, "name": {"Eve" + br}, "role": {"staff"}},
			{"email": {"eve@plan.example" + br}, "name": {"Eve"}, "role": {"staff"}},
		} {
			if p := admin.post("/admin/staff", f); p.Status != http.StatusUnprocessableEntity {
				t.Errorf("staff %q / %q: %d, want 422", f.Get("name"), f.Get("email"), p.Status)
			}
		}
		if p := admin.post("/admin/teams", url.Values{"name": {"Team" + br}}); p.Status != http.StatusUnprocessableEntity {
			t.Errorf("team name with %q: %d, want 422", br, p.Status)
		}
		if p := s.browser().post("/forgot-password", url.Values{"email": {"admin@plan.example" + br}}); p.Status != http.StatusUnprocessableEntity {
			t.Errorf("forgot-password address with %q: %d, want 422", br, p.Status)
		}
	}
	must(t, "refused names and addresses stored nothing", stored() == before)

	// Accepted: header syntax without a line break is only text.
	const trickyName = `Lena "Boss" <evil@evil.example>, Bcc: evil@evil.example`
	p := admin.post("/admin/staff", url.Values{"email": {"rep@plan.example"}, "name": {"Lena"}, "role": {"staff"}, "team": {fmt.Sprint(teamID)}})
	if p.Status != http.StatusSeeOther {
		t.Fatalf("staff: %d", p.Status)
	}
	_, link := s.mailTo("rep@plan.example", "registration", "/register/")
	for _, br := range crlfs {
		if p := s.browser().register(link, "Lena"+br, goodPassword); p.Status != http.StatusUnprocessableEntity {
			t.Errorf("registration name with %q: %d, want 422", br, p.Status)
		}
	}
	staff := s.browser()
	if p := staff.register(link, trickyName, goodPassword); p.Status != http.StatusSeeOther {
		t.Fatalf("registration with %q: %d", trickyName, p.Status)
	}

	provider := "dr.kim@" + tlsDomain
	before = stored()
	for _, br := range crlfs {
		for _, f := range []url.Values{
			{"to": {provider}, "subject": {"Results" + br}, "body": {"b"}},
			{"to": {provider + br}, "subject": {"Results"}, "body": {"b"}},
		} {
			if p := staff.postMessage("/staff/compose", f); p.Status != http.StatusUnprocessableEntity {
				t.Errorf("compose to %q, subject %q: %d, want 422", f.Get("to"), f.Get("subject"), p.Status)
			}
		}
	}
	must(t, "refused subjects and recipients stored nothing", stored() == before)

	// A message with a header-like subject and a file whose name, sent
	// RFC 2231-encoded, holds CR LF: delivered straight to the provider's
	// server over TLS, where the raw message is read.
	const trickySubject = "Results Bcc: evil@evil.example %0D%0AX-Injected: 1 \u2028 =?utf-8?q?x?="
	sendWithFile := func(to string) page {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		mw.WriteField("to", to)
		mw.WriteField("subject", trickySubject)
		mw.WriteField("body", "See the file.")
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="attachments"; filename="x.txt"; filename*=UTF-8''evil%0D%0ABcc%3A%20evil%40evil.example%0D%0AX-Injected%3A%201.txt`)
		h.Set("Content-Type", "text/plain")
		fw, _ := mw.CreatePart(h)
		fw.Write([]byte("the file"))
		mw.Close()
		return staff.do(http.MethodPost, "/staff/compose", nil, http.Header{"Content-Type": {mw.FormDataContentType()}}, &buf)
	}
	p = sendWithFile(provider)
	if p.Status != http.StatusSeeOther {
		t.Fatalf("compose with a header-like subject: %d", p.Status)
	}
	contains(t, "delivery", s.deliveryNote(staff, p.Location), "Delivered by TLS")
	envs := s.peers[tlsDomain].Envelopes()
	if len(envs) != 1 {
		t.Fatalf("the provider's server got %d messages, want 1", len(envs))
	}
	must(t, fmt.Sprintf("one envelope recipient, the provider: %v", envs[0].To), len(envs[0].To) == 1 && envs[0].To[0] == provider)
	checkMailHeaders(t, "TLS delivery", envs[0].Data)
	msg, err := mail.ReadMessage(bytes.NewReader(envs[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	must(t, fmt.Sprintf("From is the portal's one address with the name as its display name: %v %v", from, err),
		err == nil && from.Address == "secure@healthnet.example" && from.Name == trickyName)
	to, err := mail.ParseAddressList(msg.Header.Get("To"))
	must(t, fmt.Sprintf("To is the provider alone: %v %v", to, err), err == nil && len(to) == 1 && to[0].Address == provider)

	// The same through the portal: the notification to a provider whose
	// server cannot take TLS goes through the relay.
	plain := "office@" + plainDomain
	if p := sendWithFile(plain); p.Status != http.StatusSeeOther {
		t.Fatalf("compose to %s: %d", plain, p.Status)
	}
	n, _ := s.mailTo(plain, "[SECURE]", "/register/")
	must(t, fmt.Sprintf("the notification has one envelope recipient: %v", n.To), len(n.To) == 1 && n.To[0] == plain)
	checkMailHeaders(t, "notification", n.Raw)
	settle(t, s.site)
	for _, m := range s.mail.Messages() {
		checkMailHeaders(t, fmt.Sprintf("email %q to %v", m.Subject, m.To), m.Raw)
		if len(m.To) != 1 || strings.Contains(strings.ToLower(strings.Join(m.To, ",")), "evil") {
			t.Errorf("email %q went to %v", m.Subject, m.To)
		}
	}

	// HTTP: no answer grows a header, whatever carries the line break.
	thread := staff.get(p.Location)
	var file string
	for name, l := range attachmentLinks(thread.Body) {
		file = l
		must(t, fmt.Sprintf("the file's name lost its line breaks: %q", name), !strings.ContainsAny(name, "\r\n"))
	}
	probes := []struct {
		b    *browser
		path string
	}{
		{staff, file},
		{staff, "/login?next=" + url.QueryEscape("/account\r\nX-Injected: 1\r\nSet-Cookie: evil=1")},
		{s.browser(), "/login?next=" + url.QueryEscape("/account\r\nX-Injected: 1")},
		{s.browser(), "/account?x=%0D%0AX-Injected:%201"},
		{s.browser(), "/account%0D%0AX-Injected:%201"},
		{s.browser(), "/register/abc%0D%0AX-Injected:%201"},
		{admin, "/admin/users?notice=" + url.QueryEscape("ok\r\nX-Injected: 1")},
		{admin, "/admin/reauth?next=" + url.QueryEscape("/admin/users\r\nX-Injected: 1")},
	}
	for _, pr := range probes {
		p := pr.b.get(pr.path)
		checkHTTPHeaders(t, "GET "+pr.path, p)
	}
	for _, next := range []string{"/account\r\nX-Injected: 1", "/account\nSet-Cookie: evil=1", "/account%0D%0AX-Injected:%201"} {
		p := s.browser().post("/login", url.Values{"email": {"rep@plan.example"}, "password": {goodPassword}, "next": {next}})
		checkHTTPHeaders(t, fmt.Sprintf("POST /login next=%q", next), p)
		p = admin.post("/admin/reauth", url.Values{"password": {goodPassword}, "next": {next}})
		checkHTTPHeaders(t, fmt.Sprintf("POST /admin/reauth next=%q", next), p)
	}
}

func checkHTTPHeaders(t *testing.T, what string, p page) {
	t.Helper()
	if p.Status >= 500 {
		t.Errorf("%s: %d", what, p.Status)
	}
	for k, vs := range p.Header {
		if strings.EqualFold(k, "X-Injected") {
			t.Errorf("%s: injected header %s", what, k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n") {
				t.Errorf("%s: header %s = %q", what, k, v)
			}
		}
	}
	for _, c := range p.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "evil=") {
			t.Errorf("%s: injected cookie %q", what, c)
		}
	}
}
