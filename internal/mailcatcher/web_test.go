package mailcatcher

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wneessen/go-mail"
)

func get(t *testing.T, h http.Handler, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerListsAndShowsMessage(t *testing.T) {
	s := startCatcher(t, Options{})
	link := "https://portal.healthnet.example/messages/42?token=abc"
	send(t, s, newMsg(t, "alice@example.com", "older", "first"))
	send(t, s, newMsg(t, "alice@example.com", `Hello <script>alert("x")</script>`, "Open: "+link+"\n"))
	h := s.Handler()

	resp := get(t, h, "/")
	page := body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list status %d", resp.StatusCode)
	}
	if strings.Contains(page, "<script>") {
		t.Error("list page contains an unescaped <script>")
	}
	if !strings.Contains(page, "Hello &lt;script&gt;") {
		t.Errorf("list page lacks the escaped subject:\n%s", page)
	}
	if !strings.Contains(page, "Mail catcher (development only)") || !strings.Contains(page, "Nothing leaves this machine") {
		t.Error("list page lacks the dev-only title or note")
	}
	if newer, older := strings.Index(page, "Hello &lt;script"), strings.Index(page, "older"); newer < 0 || older < 0 || newer > older {
		t.Error("list is not newest first")
	}
	if !strings.Contains(page, `href="/messages/2"`) {
		t.Error("list does not link to the message")
	}

	resp = get(t, h, "/messages/2")
	page = body(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("message status %d", resp.StatusCode)
	}
	if strings.Contains(page, "<script>") {
		t.Error("message page contains an unescaped <script>")
	}
	if !strings.Contains(page, `<a href="`+link+`"`) {
		t.Errorf("message page lacks the link as an anchor:\n%s", page)
	}
	if !strings.Contains(page, "<pre>Open: "+link) {
		t.Error("message page lacks the text body in <pre>")
	}
	if !strings.Contains(page, "Message-Id") {
		t.Error("message page lacks headers")
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("page CSP = %q", csp)
	}

	for _, path := range []string{"/messages/99", "/messages/abc", "/messages/1/html", "/messages/1/attachments/0"} {
		if resp := get(t, h, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestHTMLPartIsSandboxed(t *testing.T) {
	s := startCatcher(t, Options{})
	m := newMsg(t, "alice@example.com", "html", "text")
	htmlBody := `<p>Hi</p><script>alert(1)</script>`
	m.AddAlternativeString(mail.TypeTextHTML, htmlBody)
	send(t, s, m)
	h := s.Handler()

	page := body(t, get(t, h, "/messages/1"))
	if !strings.Contains(page, `<iframe sandbox src="/messages/1/html"`) {
		t.Errorf("message page does not embed the HTML in a sandboxed iframe:\n%s", page)
	}

	resp := get(t, h, "/messages/1/html")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "sandbox; default-src 'none'" {
		t.Errorf("CSP = %q", csp)
	}
	if got := body(t, resp); got != htmlBody {
		t.Errorf("body = %q", got)
	}
}

func TestAttachmentIsDownloadable(t *testing.T) {
	s := startCatcher(t, Options{})
	data := []byte("<html><script>alert(1)</script></html>")
	m := newMsg(t, "alice@example.com", "att", "text")
	if err := m.AttachReader("SecureMessage.html", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	send(t, s, m)

	resp := get(t, s.Handler(), "/messages/1/attachments/0")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != "attachment; filename=SecureMessage.html" {
		t.Errorf("Content-Disposition = %q", cd)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") {
		t.Errorf("CSP = %q", csp)
	}
	if got := body(t, resp); got != string(data) {
		t.Errorf("body = %q", got)
	}
}
