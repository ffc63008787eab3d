package delivery_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
	"github.com/healthnet/secureportal/internal/testlog"
)

// A real MTA on the receiving end: Debian's Postfix, configured by the
// test, is the MX of two test domains. postfix.test's MX offers STARTTLS
// with a test-CA certificate; postfix-plain.test's MX is the same Postfix
// on another address with STARTTLS off.
const (
	postfixTLSDomain   = "postfix.test"
	postfixTLSMX       = "mx.postfix.test"
	postfixTLSIP       = "127.0.0.9"
	postfixPlainDomain = "postfix-plain.test"
	postfixPlainMX     = "mx.postfix-plain.test"
	postfixPlainIP     = "127.0.0.10"
)

// postfixReceivedTLS is what smtpd_tls_received_header adds to Received:
// "(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) ...".
var postfixReceivedTLS = regexp.MustCompile(`\(using (TLSv1\.[23]) with cipher ([A-Za-z0-9_-]+) \(\d+/\d+ bits\)`)

type postfixWorld struct {
	pf        *deliverytest.Postfix
	router    *delivery.Router
	transport *delivery.Transport
	logs      *testlog.Buffer
}

func newPostfixWorld(t *testing.T) *postfixWorld {
	t.Helper()
	deliverytest.RequirePostfix(t)
	w := deliverytest.NewWorld(t)
	pf := deliverytest.StartPostfix(t, deliverytest.PostfixConfig{
		Host: postfixTLSMX, Cert: w.CA.Leaf(t, postfixTLSMX), IP: postfixTLSIP,
		PlainHost: postfixPlainMX, PlainIP: postfixPlainIP,
		Mailboxes: map[string]string{
			"someone@" + postfixTLSDomain:   "someone/",
			"someone@" + postfixPlainDomain: "plain/",
		},
		Hold: true,
	})
	for host, ip := range map[string]string{postfixTLSMX: postfixTLSIP, postfixPlainMX: postfixPlainIP} {
		if err := w.DNS.AddA(host, ip); err != nil {
			t.Fatal(err)
		}
	}
	w.MX(postfixTLSDomain, postfixTLSMX)
	w.MX(postfixPlainDomain, postfixPlainMX)

	s := w.Settings()
	s.SMTPPort = pf.Port // World knows only its own peers' port
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	store := &delivery.MemoryStore{}
	checker, err := delivery.NewChecker(s, store, log)
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	transport, err := delivery.NewTransport(s, log)
	if err != nil {
		t.Fatalf("NewTransport: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("delivery log:\n%s", logs.String())
		}
	})
	return &postfixWorld{pf: pf, router: delivery.NewRouter(checker, store, store, log), transport: transport, logs: logs}
}

// postfixAttachment is one attachment of the test message and its bytes.
type postfixAttachment struct {
	name, contentType string
	data              []byte
}

func postfixMessage(to, subject, text string, atts []postfixAttachment) func(io.Writer) error {
	out := delivery.Outgoing{
		From:    mail.Address{Name: "Rep Name", Address: "noreply@portal.test"},
		To:      mail.Address{Address: to},
		ReplyTo: mail.Address{Address: "reply+token@portal.test"},
		Subject: subject,
		Text:    text,
	}
	for _, a := range atts {
		out.Attachments = append(out.Attachments, delivery.OutgoingAttachment{
			Name: a.name, ContentType: a.contentType,
			Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(a.data)), nil },
		})
	}
	return func(w io.Writer) error { return delivery.WriteMessage(w, out) }
}

func TestPostfixReceivesVerifiedTLSDeliveryWithAttachments(t *testing.T) {
	start := time.Now()
	pw := newPostfixWorld(t)
	t.Logf("Postfix %s:%d up in %s", postfixTLSIP, pw.pf.Port, time.Since(start).Round(time.Millisecond))

	t.Run("STARTTLS under the test CA", func(t *testing.T) {
		d := postfixDecide(t, pw.router, postfixTLSDomain)
		if d.Method != delivery.MethodTLS || d.MX != postfixTLSMX {
			t.Fatalf("decision %s via %q (%s), want tls via %s", d.Method, d.MX, d.Reason, postfixTLSMX)
		}

		binary := make([]byte, 300<<10)
		_, _ = rand.Read(binary)
		atts := []postfixAttachment{
			{"scan.bin", "application/octet-stream", binary},
			{"notes.txt", "text/plain", []byte("Follow-up in two weeks.\r\nNo further action needed.\r\n")},
		}
		const subject = "[SECURE] Lab results for your patient"
		text := "Dear provider,\n\nthe results are attached. PHI-POSTFIX-TLS-Jane-Doe\n"
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		sent := time.Now()
		if err := pw.transport.Deliver(ctx, d, "noreply@portal.test", "someone@"+postfixTLSDomain,
			postfixMessage("someone@"+postfixTLSDomain, subject, text, atts)); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		t.Logf("delivered %d KiB in %s", (len(binary)+len(atts[1].data))>>10, time.Since(sent).Round(time.Millisecond))

		// The queue file, read while the message is on hold, proves TLS.
		ids := pw.pf.WaitHeld(t, 1, 10*time.Second)
		if len(ids) != 1 {
			t.Fatalf("held %v, want one message", ids)
		}
		queued := pw.pf.QueueFile(t, ids[0])
		version := checkPostfixMessage(t, "queue file "+ids[0], queued, subject, text, atts)
		if want := strings.ReplaceAll(d.TLSVersion, "TLS ", "TLSv"); version != want {
			t.Errorf("queue file: Postfix received over %s, the check saw %s", version, d.TLSVersion)
		}

		// Released, Postfix delivers it to the Maildir intact.
		pw.pf.Release(t, ids[0])
		msgs := pw.pf.WaitMailbox(t, "someone/", 1, 10*time.Second)
		if len(msgs) != 1 {
			t.Fatalf("%d messages in the mailbox, want 1", len(msgs))
		}
		checkPostfixMessage(t, "delivered message", msgs[0], subject, text, atts)
		pw.pf.WaitQueueEmpty(t, 5*time.Second)
	})

	t.Run("no STARTTLS", func(t *testing.T) {
		d := postfixDecide(t, pw.router, postfixPlainDomain)
		if d.Method != delivery.MethodPortal || !strings.Contains(d.Reason, postfixPlainMX+" offered no STARTTLS") {
			t.Fatalf("decision %s (%s), want portal because %s offered no STARTTLS", d.Method, d.Reason, postfixPlainMX)
		}

		// Even a decision forced to TLS never sends the message in the
		// clear: the transport finds no STARTTLS and falls back.
		const marker = "PHI-POSTFIX-PLAIN-John-Roe"
		forced := delivery.Decision{Domain: postfixPlainDomain, Method: delivery.MethodTLS, MX: postfixPlainMX}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		err := pw.transport.Deliver(ctx, forced, "noreply@portal.test", "someone@"+postfixPlainDomain,
			postfixMessage("someone@"+postfixPlainDomain, "[SECURE] "+marker, "Body "+marker,
				[]postfixAttachment{{"x.txt", "text/plain", []byte(marker)}}))
		if !errors.Is(err, delivery.ErrFallback) {
			t.Fatalf("Deliver = %v, want an error wrapping ErrFallback", err)
		}

		// Postfix logs each session's commands when it ends ("disconnect
		// from ... ehlo=1 commands=1"): the probe and the delivery both
		// stopped after EHLO, before MAIL, RCPT or DATA.
		var sessions []string
		ok := postfixWaitUntil(5*time.Second, func() bool {
			sessions = sessions[:0]
			for _, line := range strings.Split(pw.pf.Log(), "\n") {
				if strings.Contains(line, "postfix-plain/smtpd[") && strings.Contains(line, "disconnect from") && strings.Contains(line, "ehlo=") {
					sessions = append(sessions, line)
				}
			}
			return len(sessions) >= 2
		})
		if !ok {
			t.Errorf("Postfix logged %d sessions with EHLO on the plain service, want 2 (probe and delivery)", len(sessions))
		}
		for _, s := range sessions {
			for _, cmd := range []string{"starttls=", "mail=", "rcpt=", "data=", "bdat="} {
				if strings.Contains(s, cmd) {
					t.Errorf("plain session went past EHLO (%s): %s", cmd, s)
				}
			}
		}
		if msgs := pw.pf.Mailbox("plain/"); len(msgs) != 0 {
			t.Errorf("%d message(s) delivered to the plain mailbox", len(msgs))
		}
		if q := pw.pf.Queued(); len(q) != 0 {
			t.Errorf("queued: %v", q)
		}
		if hits := pw.pf.FilesContaining([]byte(marker)); len(hits) != 0 {
			t.Errorf("the PHI marker reached Postfix: %v", hits)
		}
	})
}

func postfixDecide(t *testing.T, r *delivery.Router, domain string) delivery.Decision {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d, err := r.Decide(ctx, domain)
	if err != nil {
		t.Fatalf("Decide(%s): %v", domain, err)
	}
	return d
}

func postfixWaitUntil(timeout time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// checkPostfixMessage parses a message as Postfix stored it and checks
// that it came over TLS (the Received header Postfix added names the
// protocol and cipher), its subject and text, and every attachment's
// bytes. It returns the TLS version from the Received header.
func checkPostfixMessage(t *testing.T, what string, raw []byte, subject, text string, atts []postfixAttachment) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: parse: %v", what, err)
	}
	// Postfix puts its own Received header first.
	received := msg.Header["Received"]
	if len(received) == 0 {
		t.Fatalf("%s: no Received header", what)
	}
	ours := received[0]
	m := postfixReceivedTLS.FindStringSubmatch(ours)
	if m == nil || !strings.Contains(ours, "by "+postfixTLSMX+" (Postfix) with ESMTPS") {
		t.Fatalf("%s: Received header does not show TLS: %q", what, ours)
	}
	t.Logf("%s: Received ... (using %s with cipher %s ...) by %s with ESMTPS", what, m[1], m[2], postfixTLSMX)

	dec := new(mime.WordDecoder)
	if got, err := dec.DecodeHeader(msg.Header.Get("Subject")); err != nil || got != subject {
		t.Errorf("%s: Subject %q (%v), want %q", what, got, err, subject)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/mixed" {
		t.Fatalf("%s: Content-Type %q (%v), want multipart/mixed", what, msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var texts []string
	got := map[string][]byte{}
	for {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: MIME: %v", what, err)
		}
		body, err := io.ReadAll(postfixDecodePart(part))
		if err != nil {
			t.Fatalf("%s: part %q: %v", what, part.FileName(), err)
		}
		if name := part.FileName(); name != "" {
			got[name] = body
		} else {
			texts = append(texts, string(body))
		}
	}
	if len(texts) != 1 || strings.ReplaceAll(texts[0], "\r\n", "\n") != text {
		t.Errorf("%s: text parts %q, want %q", what, texts, text)
	}
	if len(got) != len(atts) {
		t.Errorf("%s: %d attachments, want %d", what, len(got), len(atts))
	}
	for _, a := range atts {
		if !bytes.Equal(got[a.name], a.data) {
			t.Errorf("%s: attachment %s: %d bytes that differ from the %d sent", what, a.name, len(got[a.name]), len(a.data))
		}
	}
	return m[1]
}

// postfixDecodePart undoes the part's Content-Transfer-Encoding. NextRawPart
// is used so that a quoted-printable part is decoded here, like base64.
func postfixDecodePart(p *multipart.Part) io.Reader {
	switch strings.ToLower(p.Header.Get("Content-Transfer-Encoding")) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, p) // skips line breaks
	case "quoted-printable":
		return quotedprintable.NewReader(p)
	}
	return p
}
