package mailcatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wneessen/go-mail"
)

// startCatcher starts a catcher on an ephemeral loopback port and closes it
// when the test ends.
func startCatcher(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := StartWithOptions("127.0.0.1:0", opts)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// goMailClient returns a go-mail client pointed at the catcher, configured
// the way it has to be on loopback (no TLS).
func goMailClient(t *testing.T, s *Server, extra ...mail.Option) *mail.Client {
	t.Helper()
	host, portStr, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]mail.Option{
		mail.WithPort(port),
		mail.WithTLSPolicy(mail.NoTLS),
		mail.WithHELO("localhost"),
		mail.WithTimeout(5 * time.Second),
	}, extra...)
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		t.Fatalf("new go-mail client: %v", err)
	}
	return c
}

// newMsg builds a simple text mail.
func newMsg(t *testing.T, to, subject, text string) *mail.Msg {
	t.Helper()
	m := mail.NewMsg()
	if err := m.From("Secure Portal <noreply@healthnet.example>"); err != nil {
		t.Fatal(err)
	}
	if err := m.To(to); err != nil {
		t.Fatal(err)
	}
	m.Subject(subject)
	m.SetBodyString(mail.TypeTextPlain, text)
	return m
}

func send(t *testing.T, s *Server, msgs ...*mail.Msg) {
	t.Helper()
	if err := goMailClient(t, s).DialAndSend(msgs...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// sendRaw delivers hand-written RFC 5322 bytes, for encodings go-mail would
// never produce.
func sendRaw(t *testing.T, s *Server, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	if err := smtp.SendMail(s.Addr(), nil, "sender@example.com", []string{"rcpt@example.com"}, []byte(raw)); err != nil {
		t.Fatalf("send raw: %v", err)
	}
}

func onlyMessage(t *testing.T, s *Server) Message {
	t.Helper()
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	return msgs[0]
}

func TestCatchesMailSentWithGoMail(t *testing.T) {
	s := startCatcher(t, Options{})
	link := "https://portal.healthnet.example/messages/open?token=" + strings.Repeat("a1B2c3D4", 12) + "&lang=en"
	text := "You have a new secure message.\nOpen it here: " + link + "\n"
	htmlBody := `<p>You have a new secure message.</p><p><a href="` +
		strings.ReplaceAll(link, "&", "&amp;") + `">Open message</a></p>`
	attachment := []byte("<!doctype html><html><body>Encrypted envelope</body></html>\n")

	m := newMsg(t, "alice@example.com", "New secure message", text)
	m.AddAlternativeString(mail.TypeTextHTML, htmlBody)
	if err := m.AttachReader("SecureMessage.html", bytes.NewReader(attachment), mail.WithFileContentType(mail.TypeTextHTML)); err != nil {
		t.Fatal(err)
	}
	send(t, s, m)

	got := onlyMessage(t, s)
	if got.ID != 1 {
		t.Errorf("ID = %d, want 1", got.ID)
	}
	if got.From != "noreply@healthnet.example" {
		t.Errorf("From = %q", got.From)
	}
	if !slices.Equal(got.To, []string{"alice@example.com"}) {
		t.Errorf("To = %q", got.To)
	}
	if got.Subject != "New secure message" {
		t.Errorf("Subject = %q", got.Subject)
	}
	if got.Text != text {
		t.Errorf("Text = %q, want %q", got.Text, text)
	}
	if !strings.Contains(string(got.Raw), "=3D") {
		t.Errorf("expected the raw text to be quoted-printable encoded, so decoding is actually exercised")
	}
	if got.HTML != htmlBody {
		t.Errorf("HTML = %q, want %q", got.HTML, htmlBody)
	}
	if links := got.Links(); !slices.Equal(links, []string{link}) {
		t.Errorf("Links() = %q, want [%q]", links, link)
	}
	if len(got.Attachments) != 1 {
		t.Fatalf("got %d attachments, want 1", len(got.Attachments))
	}
	a := got.Attachments[0]
	if a.Filename != "SecureMessage.html" || a.ContentType != "text/html" {
		t.Errorf("attachment = %q %q", a.Filename, a.ContentType)
	}
	if !bytes.Equal(a.Data, attachment) {
		t.Errorf("attachment data = %q, want %q", a.Data, attachment)
	}
	if got.ReceivedAt.IsZero() {
		t.Error("ReceivedAt not set")
	}
}

func TestEncodedSubjectDecoded(t *testing.T) {
	s := startCatcher(t, Options{})
	send(t, s, newMsg(t, "bob@example.com", "Résultats prêts ✓ für Sie", "hi"))
	sendRaw(t, s, "From: a@example.com\nTo: b@example.com\n"+
		"Subject: =?UTF-8?B?w4lwaWPDqXJpZQ==?= =?ISO-8859-1?Q?_caf=E9?=\n\nbody\n")

	msgs := s.Messages()
	if len(msgs) != 2 {
		t.Fatalf("got %d messages", len(msgs))
	}
	if want := "Résultats prêts ✓ für Sie"; msgs[0].Subject != want {
		t.Errorf("go-mail subject = %q, want %q", msgs[0].Subject, want)
	}
	if want := "Épicérie café"; msgs[1].Subject != want {
		t.Errorf("raw subject = %q, want %q", msgs[1].Subject, want)
	}
}

func TestRefusesNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.10:2525", "mail.example.com:25", "no-port"} {
		s, err := Start(addr)
		if err == nil {
			s.Close()
			t.Errorf("Start(%q) succeeded, want error", addr)
			continue
		}
		if !strings.HasPrefix(err.Error(), "mailcatcher: ") {
			t.Errorf("Start(%q) error %q lacks package prefix", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		s, err := Start(addr)
		if err != nil {
			t.Errorf("Start(%q): %v", addr, err)
			continue
		}
		if host, _, _ := net.SplitHostPort(s.Addr()); host != "127.0.0.1" {
			t.Errorf("Start(%q) bound %s", addr, s.Addr())
		}
		s.Close()
	}
}

func TestCapacityKeepsNewest(t *testing.T) {
	s := startCatcher(t, Options{Capacity: 3})
	for i := 1; i <= 5; i++ {
		send(t, s, newMsg(t, "alice@example.com", fmt.Sprintf("msg %d", i), "x"))
	}
	var subjects []string
	var ids []int
	for _, m := range s.Messages() {
		subjects = append(subjects, m.Subject)
		ids = append(ids, m.ID)
	}
	if want := []string{"msg 3", "msg 4", "msg 5"}; !slices.Equal(subjects, want) {
		t.Errorf("subjects = %q, want %q", subjects, want)
	}
	if want := []int{3, 4, 5}; !slices.Equal(ids, want) {
		t.Errorf("ids = %v, want %v", ids, want)
	}
}

func TestWaitForReturnsWhenMessageArrives(t *testing.T) {
	s := startCatcher(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	type result struct {
		m   Message
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := s.WaitFor(ctx, func(m Message) bool { return slices.Contains(m.To, "carol@example.com") })
		done <- result{m, err}
	}()

	send(t, s, newMsg(t, "alice@example.com", "not for carol", "x"))
	select {
	case r := <-done:
		t.Fatalf("WaitFor returned early with %q, %v", r.m.Subject, r.err)
	case <-time.After(50 * time.Millisecond):
	}
	send(t, s, newMsg(t, "carol@example.com", "for carol", "x"))

	r := <-done
	if r.err != nil {
		t.Fatalf("WaitFor: %v", r.err)
	}
	if r.m.Subject != "for carol" {
		t.Errorf("got %q", r.m.Subject)
	}
}

func TestWaitForSeesMailAlreadyReceived(t *testing.T) {
	s := startCatcher(t, Options{})
	send(t, s, newMsg(t, "dave@example.com", "early", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	m, err := s.WaitFor(ctx, func(m Message) bool { return m.Subject == "early" })
	if err != nil || m.Subject != "early" {
		t.Fatalf("WaitFor = %q, %v", m.Subject, err)
	}
}

func TestWaitForTimesOut(t *testing.T) {
	s := startCatcher(t, Options{})
	send(t, s, newMsg(t, "alice@example.com", "other", "x"))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := s.WaitFor(ctx, func(m Message) bool { return false })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestWaitForReturnsWhenClosed(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.WaitFor(context.Background(), func(Message) bool { return false })
		done <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFailingModeGivesTemporaryError(t *testing.T) {
	s := startCatcher(t, Options{})
	s.SetFailing(true)
	err := goMailClient(t, s).DialAndSend(newMsg(t, "alice@example.com", "retry me", "x"))
	if err == nil {
		t.Fatal("send succeeded while failing")
	}
	var sendErr *mail.SendError
	if !errors.As(err, &sendErr) || !sendErr.IsTemp() || sendErr.ErrorCode() != 451 {
		t.Fatalf("err = %v, want temporary 451 SendError", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("stored %d messages while failing", n)
	}

	s.SetFailing(false)
	send(t, s, newMsg(t, "alice@example.com", "retry me", "x"))
	if got := onlyMessage(t, s); got.Subject != "retry me" {
		t.Errorf("subject = %q", got.Subject)
	}
}

func TestAuthenticatedSenderIsAccepted(t *testing.T) {
	s := startCatcher(t, Options{})
	c := goMailClient(t, s, mail.WithSMTPAuth(mail.SMTPAuthPlain), mail.WithUsername("portal"), mail.WithPassword("dev-only"))
	if err := c.DialAndSend(newMsg(t, "alice@example.com", "with auth", "x")); err != nil {
		t.Fatalf("send with auth: %v", err)
	}
	onlyMessage(t, s)
}

func TestRejectsOversizedMessage(t *testing.T) {
	s := startCatcher(t, Options{MaxMessageBytes: 2048})
	err := goMailClient(t, s).DialAndSend(newMsg(t, "alice@example.com", "big", strings.Repeat("0123456789\n", 1000)))
	if err == nil {
		t.Fatal("oversized message accepted")
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("stored %d messages", n)
	}
}

func TestResetKeepsIDsIncreasing(t *testing.T) {
	s := startCatcher(t, Options{})
	send(t, s, newMsg(t, "alice@example.com", "one", "x"))
	s.Reset()
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("after Reset: %d messages", n)
	}
	send(t, s, newMsg(t, "alice@example.com", "two", "x"))
	if got := onlyMessage(t, s); got.ID != 2 {
		t.Errorf("ID after Reset = %d, want 2", got.ID)
	}
}

func TestMessagesReturnsCopy(t *testing.T) {
	s := startCatcher(t, Options{})
	send(t, s, newMsg(t, "alice@example.com", "one", "x"))
	m := onlyMessage(t, s)
	m.To[0] = "mallory@example.com"
	m.Raw[0] = 'X'
	if got := onlyMessage(t, s); got.To[0] != "alice@example.com" || got.Raw[0] == 'X' {
		t.Error("mutating the result of Messages changed stored mail")
	}
}

func TestConcurrentSendersAndReaders(t *testing.T) {
	s := startCatcher(t, Options{Capacity: 10})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		msg := newMsg(t, "alice@example.com", fmt.Sprintf("c%d", i), "x")
		c := goMailClient(t, s)
		wg.Go(func() { errs <- c.DialAndSend(msg) })
		wg.Go(func() { _ = s.Messages() })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent send: %v", err)
		}
	}
	if n := len(s.Messages()); n != 8 {
		t.Errorf("got %d messages, want 8", n)
	}
}
