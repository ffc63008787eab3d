package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// file is an attachment for a multipart form.
type file struct {
	name string
	data []byte
}

// postMessage sends a multipart form as the browser does: text fields first,
// then the files.
func (b *browser) postMessage(path string, fields url.Values, files ...file) page {
	b.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, vs := range fields {
		for _, v := range vs {
			mw.WriteField(k, v)
		}
	}
	for _, f := range files {
		w, _ := mw.CreateFormFile("attachments", f.name)
		w.Write(f.data)
	}
	mw.Close()
	return b.do(http.MethodPost, path, nil, http.Header{"Content-Type": {mw.FormDataContentType()}}, &buf)
}

// staffIn creates an active representative in team (created if needed).
func (s *site) staffIn(email, name, team string) (accounts.User, int64) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.app.Accounts.CreateUser(ctx, email, name, accounts.RoleStaff, goodPassword, 0, "")
	if err != nil {
		s.t.Fatal(err)
	}
	id, err := postgres.EnsureTeam(ctx, s.app.Pool, team, "Cal MediConnect")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := postgres.AddTeamMember(ctx, s.app.Pool, id, u.ID); err != nil {
		s.t.Fatal(err)
	}
	return u, id
}

func (s *site) signedIn(email string) *browser {
	s.t.Helper()
	b := s.browser()
	if p := b.signInFully(email, goodPassword); p.Status != http.StatusSeeOther && p.Status != http.StatusOK {
		s.t.Fatalf("sign-in of %s: %d", email, p.Status)
	}
	return b
}

var threadPath = regexp.MustCompile(`^/(staff/)?threads/([0-9a-f-]{36})`)

func threadID(t testing.TB, location string) string {
	t.Helper()
	m := threadPath.FindStringSubmatch(location)
	if m == nil {
		t.Fatalf("not a thread URL: %q", location)
	}
	return m[2]
}

var attachmentLink = regexp.MustCompile(`href="(/attachments/[0-9a-f-]{36})"[^>]*>([^<]*)<`)

func attachmentLinks(body string) map[string]string {
	out := map[string]string{}
	for _, m := range attachmentLink.FindAllStringSubmatch(body, -1) {
		out[htmlUnescape(m[2])] = m[1]
	}
	return out
}

func htmlUnescape(s string) string {
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'").Replace(s)
}

const (
	markSubject = "PHI-SUBJECT-7d1c"
	markBody    = "PHI-BODY-7d1c"
	markName    = "PHI-NAME-7d1c"
	markBytes   = "PHI-BYTES-7d1c"
)

func TestSecureMessagingJourney(t *testing.T) {
	s := newSite(t, nil)
	ctx := context.Background()
	rep, laTeam := s.staffIn("rep.la@plan.example", "Lena Ortiz", "Provider Services – Los Angeles County")
	sdRep, sdTeam := s.staffIn("rep.sd@plan.example", "Sam Duarte", "Provider Services – San Diego County")
	staff := s.signedIn("rep.la@plan.example")

	// Staff compose to a provider who has never used the portal.
	pdf := bytes.Repeat([]byte(markBytes+" %PDF-1.7 "), 5000)
	p := staff.postMessage("/staff/compose", url.Values{
		"to": {"Dr.New@Clinic.example"}, "subject": {"Lab results " + markSubject},
		"body": {markBody + "\nSecond line, see https://example.org/guide."},
	}, file{"lab " + markName + ".pdf", pdf})
	must(t, fmt.Sprintf("staff compose redirects, got %d %s", p.Status, p.Location), p.Status == http.StatusSeeOther)
	tid := threadID(t, p.Location)

	// The notification: marked secure, a link, the same link attached, no PHI.
	m, link := s.mailTo("dr.new@clinic.example", "[SECURE] New secure message from Health Net", "/register/")
	for _, leak := range []string{markSubject, markBody, markName, markBytes, "Lab results"} {
		if strings.Contains(string(m.Raw), leak) {
			t.Errorf("notification email contains %q", leak)
		}
	}
	must(t, "notification has SecureMessage.html", len(m.Attachments) == 1 && m.Attachments[0].Filename == "SecureMessage.html" &&
		strings.Contains(string(m.Attachments[0].Data), link))

	// First time: register, and land on the message, open.
	prov := s.browser()
	p = prov.register(link, "Dr. Nora New", goodPassword)
	must(t, "registration lands on the thread: "+p.Location, p.Location == "/threads/"+tid)
	p = prov.get(p.Location)
	contains(t, "thread page", p.Body, markSubject, markBody+"\nSecond line", `<a href="https://example.org/guide" rel="noopener noreferrer">`,
		"lab "+markName+".pdf", "Lena Ortiz")

	// Download: equal bytes, safe headers.
	att := attachmentLinks(p.Body)["lab "+markName+".pdf"]
	d := prov.get(att)
	must(t, "download equal bytes", d.Status == 200 && d.Body == string(pdf))
	contains(t, "Content-Disposition", d.Header.Get("Content-Disposition"), "attachment;", `filename*=UTF-8''lab%20`+markName+".pdf")
	must(t, "download headers", d.Header.Get("X-Content-Type-Options") == "nosniff" && d.Header.Get("Cache-Control") == "no-store" &&
		strings.Contains(d.Header.Get("Content-Security-Policy"), "sandbox") && d.Header.Get("Content-Type") == "application/pdf")

	// Inbox lists it, read.
	p = prov.get("/inbox")
	contains(t, "inbox", p.Body, markSubject, "Lena Ortiz")
	must(t, "no unread after reading", !strings.Contains(p.Body, "unread</span>"))

	// Reply with two files; staff is notified without PHI.
	p = prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Thanks, reply " + markBody}},
		file{"consent " + markName + ".txt", []byte(markBytes + " consent")}, file{"scan.png", []byte("\x89PNG " + markBytes)})
	must(t, "reply redirects to the thread", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/threads/"+tid))
	sm, staffLink := s.mailTo("rep.la@plan.example", "[SECURE] New secure message from a provider", "/staff/threads/")
	must(t, "staff link to the thread", staffLink == "/staff/threads/"+tid)
	must(t, "staff notification without PHI", !strings.Contains(string(sm.Raw), markBody))

	// Staff sees the reply, the read receipt, and downloads equal bytes.
	p = staff.get("/staff/threads/" + tid)
	contains(t, "staff thread", p.Body, "Thanks, reply "+markBody, "Opened ", "dr.new@clinic.example")
	d = staff.get(attachmentLinks(p.Body)["consent "+markName+".txt"])
	must(t, "staff downloads the provider's file", d.Body == markBytes+" consent")
	p = staff.get("/staff?filter=awaiting")
	contains(t, "awaiting filter", p.Body, markSubject)

	// Message forms load the upload-progress script, by URL (no inline script).
	p = prov.get("/threads/" + tid)
	must(t, "thread page loads upload.js", regexp.MustCompile(`<script src="/static/[0-9a-f]+/js/upload.js" defer>`).MatchString(p.Body))

	// Provider compose: to the representative they work with, and to a team.
	p = prov.get("/compose")
	must(t, "compose page loads upload.js", strings.Contains(p.Body, "/js/upload.js"))
	contains(t, "compose recipients", p.Body, fmt.Sprintf(`value="staff:%d"`, rep.ID), fmt.Sprintf(`value="team:%d"`, laTeam), "Provider Services – San Diego County")
	p = prov.postMessage("/compose", url.Values{"to": {fmt.Sprintf("staff:%d", rep.ID)}, "subject": {"Question"}, "body": {"To my rep"}})
	must(t, "compose to rep", p.Status == http.StatusSeeOther)
	s.mailTo("rep.la@plan.example", "[SECURE]", "/staff/threads/")
	p = prov.postMessage("/compose", url.Values{"to": {fmt.Sprintf("team:%d", sdTeam)}, "subject": {"For San Diego"}, "body": {"To the team"}})
	must(t, "compose to team", p.Status == http.StatusSeeOther)
	s.mailTo("rep.sd@plan.example", "[SECURE]", "/staff/threads/")
	// A real representative the provider has never corresponded with is as
	// forbidden as a made-up one.
	for _, forged := range []string{"team:999999", fmt.Sprintf("staff:%d", sdRep.ID), fmt.Sprintf("staff:%d", rep.ID+1000), "admin:1", "staff:abc"} {
		p = prov.postMessage("/compose", url.Values{"to": {forged}, "subject": {"x"}, "body": {"y"}})
		must(t, "forged recipient refused: "+forged, p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Choose one of the listed recipients"))
	}

	// Recall is for representatives: even below the routes, a provider
	// cannot withdraw (and so destroy) a message, not even their own.
	var providerMsg string
	s.app.Pool.QueryRow(ctx, `SELECT m.id::text FROM messages m JOIN users u ON u.id = m.sender_id WHERE m.thread_id = $1 AND u.role = 'provider' LIMIT 1`, tid).Scan(&providerMsg)
	var provID int64
	s.app.Pool.QueryRow(ctx, `SELECT id FROM users WHERE email = 'dr.new@clinic.example'`).Scan(&provID)
	_, err := s.app.Messages.Recall(ctx, messaging.Viewer{UserID: provID}, providerMsg)
	must(t, fmt.Sprintf("provider recall refused: %v", err), errors.Is(err, messaging.ErrNotFound))

	// Recall: the provider sees it withdrawn; its file is gone.
	var firstMsg string
	s.app.Pool.QueryRow(ctx, `SELECT id::text FROM messages WHERE thread_id = $1 ORDER BY created_at LIMIT 1`, tid).Scan(&firstMsg)
	p = staff.post("/staff/messages/"+firstMsg+"/recall", nil)
	must(t, "recall redirects", p.Status == http.StatusSeeOther)
	p = prov.get("/threads/" + tid)
	contains(t, "withdrawn", p.Body, "withdrawn by its sender")
	must(t, "withdrawn body gone", !strings.Contains(p.Body, markBody+"\nSecond line"))
	must(t, "withdrawn file answers 410", prov.get(att).Status == http.StatusGone)

	var actions string
	s.app.Pool.QueryRow(ctx, `SELECT string_agg(DISTINCT action, ' ') FROM audit_events`).Scan(&actions)
	contains(t, "audit", actions, "message.sent", "message.read", "message.downloaded", "message.recalled")

	assertNoPlaintext(t, s, markSubject, markBody, markName, markBytes)
}

// assertNoPlaintext scans every text, bytea and json column of every table
// for the marked plaintexts: the database must hold none of them.
func assertNoPlaintext(t *testing.T, s *site, marks ...string) {
	t.Helper()
	ctx := context.Background()
	rows, err := s.app.Pool.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type IN ('text', 'bytea', 'jsonb', 'json', 'USER-DEFINED', 'character varying')`)
	if err != nil {
		t.Fatal(err)
	}
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		rows.Scan(&c.table, &c.column, &c.typ)
		cols = append(cols, c)
	}
	scanned := 0
	for _, c := range cols {
		expr := fmt.Sprintf("%q::text", c.column)
		if c.typ == "bytea" {
			expr = fmt.Sprintf("encode(%q, 'escape')", c.column)
		}
		for _, mark := range marks {
			var n int
			if err := s.app.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %q WHERE position($1 in %s) > 0`, c.table, expr), mark).Scan(&n); err != nil {
				t.Fatalf("scan %s.%s: %v", c.table, c.column, err)
			}
			if n > 0 {
				t.Errorf("plaintext %q found in %s.%s", mark, c.table, c.column)
			}
		}
		scanned++
	}
	must(t, "scanned the message tables", scanned > 20)
}

func TestOthersGetNotFoundForAThread(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.app.Accounts.CreateUser(context.Background(), "other@clinic.example", "Other", accounts.RoleProvider, goodPassword, 0, "")
	s.app.Accounts.CreateUser(context.Background(), "mine@clinic.example", "Mine", accounts.RoleProvider, goodPassword, 0, "")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"mine@clinic.example"}, "subject": {"Private"}, "body": {"For you only"}},
		file{"a.txt", []byte("secret")})
	tid := threadID(t, p.Location)
	p = staff.get("/staff/threads/" + tid)
	att := attachmentLinks(p.Body)["a.txt"]
	var msgID string
	s.app.Pool.QueryRow(context.Background(), `SELECT id::text FROM messages WHERE thread_id = $1`, tid).Scan(&msgID)

	missing := "/threads/00000000-0000-4000-8000-000000000000"
	other := s.signedIn("other@clinic.example")
	nf := other.get(missing)
	for _, path := range []string{"/threads/" + tid, att} {
		p := other.get(path)
		must(t, "other provider gets 404 for "+path, p.Status == http.StatusNotFound)
		must(t, "same page as a missing thread", len(p.Body) == len(nf.Body))
	}
	must(t, "other provider cannot reply", other.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"intrusion"}}).Status == http.StatusNotFound)
	must(t, "provider gets 404 in the staff area", other.get("/staff").Status == http.StatusNotFound)
	p = other.get("/inbox")
	must(t, "another provider's inbox leaves the thread out", p.Status == http.StatusOK && !strings.Contains(p.Body, "Private") && !strings.Contains(p.Body, tid))
	p = other.get("/inbox?before=1_zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")
	must(t, "a malformed inbox cursor shows the first page, not a 500", p.Status == http.StatusOK)

	sd := s.signedIn("rep.sd@plan.example")
	for _, path := range []string{"/staff/threads/" + tid, att} {
		must(t, "staff of another team gets 404 for "+path, sd.get(path).Status == http.StatusNotFound)
	}
	p = sd.get("/staff")
	must(t, "another team's staff inbox leaves the thread out", p.Status == http.StatusOK && !strings.Contains(p.Body, "Private") && !strings.Contains(p.Body, tid))
	must(t, "other team cannot reply", sd.postMessage("/staff/threads/"+tid+"/reply", url.Values{"body": {"x"}}).Status == http.StatusNotFound)
	must(t, "other team cannot recall", sd.post("/staff/messages/"+msgID+"/recall", nil).Status == http.StatusNotFound)
	// A teammate sees the thread but may withdraw only their own messages.
	s.staffIn("mate.la@plan.example", "Mate", "LA")
	mate := s.signedIn("mate.la@plan.example")
	must(t, "teammate sees the team's thread", mate.get("/staff/threads/"+tid).Status == http.StatusOK)
	must(t, "teammate cannot recall another's message", mate.post("/staff/messages/"+msgID+"/recall", nil).Status == http.StatusNotFound)
	must(t, "garbage ids are 404", other.get("/threads/not-a-uuid").Status == http.StatusNotFound && other.get("/attachments/x").Status == http.StatusNotFound)
	var n int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM messages WHERE thread_id = $1`, tid).Scan(&n)
	must(t, "no message added by the intruders", n == 1)
}

func TestBadSubmissionsStoreNothing(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_MAX_FILE_BYTES": "1000", "PORTAL_MAX_FILES": "2", "PORTAL_MAX_MESSAGE_BYTES": "1500"})
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	staff := s.signedIn("rep.la@plan.example")
	ok := url.Values{"to": {"dr@clinic.example"}, "subject": {"Subject"}, "body": {"Body"}}
	count := func() (n int) {
		s.app.Pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM threads) + (SELECT count(*) FROM messages) + (SELECT count(*) FROM data_keys) + (SELECT count(*) FROM users WHERE email = 'dr@clinic.example')`).Scan(&n)
		return n
	}
	cases := []struct {
		name   string
		fields url.Values
		files  []file
		status int
		says   string
	}{
		{"empty body", url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"  "}}, nil, 422, "Write a message."},
		{"bad recipient", url.Values{"to": {"dr at clinic"}, "subject": {"S"}, "body": {"B"}}, nil, 422, "Enter an email address like"},
		{"empty subject", url.Values{"to": {"dr@clinic.example"}, "subject": {""}, "body": {"B"}}, nil, 422, "Enter a subject."},
		{"file too large", ok, []file{{"big.pdf", bytes.Repeat([]byte("x"), 1001)}}, 413, "That was too large"},
		{"too many files", ok, []file{{"a.txt", []byte("a")}, {"b.txt", []byte("b")}, {"c.txt", []byte("c")}}, 413, "Up to 2 files"},
		{"executable", ok, []file{{"setup.exe", []byte("MZ")}}, 422, "cannot be sent"},
		{"program renamed .pdf", ok, []file{{"report.pdf", []byte("MZ\x90\x00\x03\x00")}}, 422, "cannot be sent"},
		{"message too large", ok, []file{{"a.pdf", bytes.Repeat([]byte("x"), 900)}, {"b.pdf", bytes.Repeat([]byte("y"), 900)}}, 413, "That was too large"},
		{"staff address", url.Values{"to": {"rep.la@plan.example"}, "subject": {"S"}, "body": {"B"}}, nil, 422, "belongs to a staff account"},
		{"disabled provider", url.Values{"to": {"off@clinic.example"}, "subject": {"S"}, "body": {"B"}}, nil, 422, "account is disabled"},
	}
	s.provider("off@clinic.example")
	s.app.Pool.Exec(context.Background(), `UPDATE users SET status = 'disabled' WHERE email = 'off@clinic.example'`)
	before := count()
	for _, tc := range cases {
		p := staff.postMessage("/staff/compose", tc.fields, tc.files...)
		must(t, fmt.Sprintf("%s: status %d, want %d", tc.name, p.Status, tc.status), p.Status == tc.status)
		contains(t, tc.name, p.Body, tc.says)
		must(t, tc.name+": nothing stored", count() == before)
	}
	// A broken multipart stream is a 400, not a 500.
	p := staff.do(http.MethodPost, "/staff/compose", nil, http.Header{"Content-Type": {"multipart/form-data; boundary=XYZ"}},
		strings.NewReader("--XYZ\r\nContent-Disposition: form-data; name=\"to\"\r\n\r\ndr@clinic.example\r\n"+
			"--XYZ\r\nContent-Disposition: form-data; name=\"subject\"\r\n\r\nS\r\n--XYZ\r\nContent-Disposition: form-data; name=\"body\"\r\n\r\nB\r\n"+
			"--XYZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"a.pdf\"\r\n\r\ntruncated"))
	must(t, fmt.Sprintf("broken multipart: %d", p.Status), p.Status == http.StatusBadRequest)
	must(t, "broken multipart: nothing stored", count() == before)
}

func TestRawTextIsEscaped(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"<script>alert(1)</script>"},
		"body": {`<img src=x onerror=alert(1)> javascript:alert(2) https://ok.example/"><b>`}})
	p = staff.get(p.Location)
	must(t, "no raw markup from the message", !strings.Contains(p.Body, "<script>alert") && !strings.Contains(p.Body, "<img src=x"))
	must(t, "javascript: not linked", !strings.Contains(p.Body, `href="javascript:`))
}
