package delivery_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
)

func attachment(name, contentType string, data []byte) delivery.OutgoingAttachment {
	return delivery.OutgoingAttachment{Name: name, ContentType: contentType,
		Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
}

func fullMessage(t *testing.T) delivery.Outgoing {
	t.Helper()
	binary := make([]byte, 1<<20+7)
	if _, err := rand.Read(binary); err != nil {
		t.Fatal(err)
	}
	return delivery.Outgoing{
		From:      mail.Address{Name: "Dr. Zoë Ångström, Provider Services", Address: "noreply@portal.example"},
		To:        mail.Address{Name: "Clinic", Address: "dr.smith@clinic.example"},
		ReplyTo:   mail.Address{Address: "reply+abc123@reply.portal.example"},
		Subject:   "[SECURE] Résultats de laboratoire du patient — une ligne assez longue pour être pliée en plusieurs mots encodés",
		MessageID: "<m1.abc@portal.example>",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Text:      "Dear Dr. Smith,\n.\nA line starting with a dot, and = signs, and ümlauts.\n" + strings.Repeat("long ", 40) + "\n",
		HTML:      "<p>Dear Dr. Smith,</p><p>ümlauts &amp; = signs</p>",
		Attachments: []delivery.OutgoingAttachment{
			attachment("scan.bin", "application/octet-stream", binary),
			attachment(`résumé "final"; v2.pdf`, "application/pdf", []byte("%PDF-1.4 tiny")),
			attachment("empty.txt", "", nil),
		},
	}
}

// The message parsed back with the standard library equals what went in.
func TestWriteMessageRoundTrips(t *testing.T) {
	in := fullMessage(t)
	var buf bytes.Buffer
	if err := delivery.WriteMessage(&buf, in); err != nil {
		t.Fatalf("WriteMessage: %v", err)
	}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
	from, _ := mail.ParseAddress(msg.Header.Get("From"))
	replyTo, _ := mail.ParseAddress(msg.Header.Get("Reply-To"))
	date, _ := msg.Header.Date()
	checks := map[string][2]string{
		"Subject":    {subject, in.Subject},
		"From name":  {from.Name, in.From.Name},
		"From":       {from.Address, in.From.Address},
		"Reply-To":   {replyTo.Address, in.ReplyTo.Address},
		"Message-ID": {msg.Header.Get("Message-ID"), in.MessageID},
		"Date":       {date.UTC().String(), in.Date.String()},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}

	parts := readParts(t, msg.Header.Get("Content-Type"), msg.Body)
	if len(parts) != 2+len(in.Attachments) {
		t.Fatalf("got %d leaf parts, want text, html and %d attachments", len(parts), len(in.Attachments))
	}
	if got := crlfToLF(parts[0].body); got != in.Text {
		t.Errorf("text = %q, want %q", got, in.Text)
	}
	if got := crlfToLF(parts[1].body); got != in.HTML {
		t.Errorf("html = %q, want %q", got, in.HTML)
	}
	for i, a := range in.Attachments {
		p := parts[2+i]
		rc, _ := a.Open()
		want, _ := io.ReadAll(rc)
		if p.filename != a.Name || !bytes.Equal(p.body, want) {
			t.Errorf("attachment %d: name %q, %d bytes; want %q, %d identical bytes", i, p.filename, len(p.body), a.Name, len(want))
		}
	}
}

type leafPart struct {
	filename string
	body     []byte
}

// readParts walks a MIME tree and returns its leaves decoded: multipart
// decodes quoted-printable itself; base64 is decoded here.
func readParts(t *testing.T, contentType string, body io.Reader) []leafPart {
	t.Helper()
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		t.Fatalf("content type %q: %v", contentType, err)
	}
	if !strings.HasPrefix(mediaType, "multipart/") {
		data, _ := io.ReadAll(body)
		return []leafPart{{body: data}}
	}
	var out []leafPart
	mr := multipart.NewReader(body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		if strings.HasPrefix(p.Header.Get("Content-Type"), "multipart/") {
			out = append(out, readParts(t, p.Header.Get("Content-Type"), p)...)
			continue
		}
		var r io.Reader = p
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			r = base64.NewDecoder(base64.StdEncoding, p)
		}
		data, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("read part: %v", err)
		}
		out = append(out, leafPart{filename: p.FileName(), body: data})
	}
}

func crlfToLF(b []byte) string { return strings.ReplaceAll(string(b), "\r\n", "\n") }

func TestWriteMessageOutputIsSevenBitWithShortLines(t *testing.T) {
	var buf bytes.Buffer
	if err := delivery.WriteMessage(&buf, fullMessage(t)); err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(buf.String(), "\r\n") {
		if len(line) > 78 {
			t.Fatalf("line %d has %d characters (RFC 5322 §2.1.1 suggests 78): %q", i, len(line), line)
		}
		if strings.ContainsAny(line, "\r\n") || strings.IndexFunc(line, func(r rune) bool { return r > 0x7e }) >= 0 {
			t.Fatalf("line %d is not 7-bit text with CRLF endings: %q", i, line)
		}
	}
}

func TestAttachmentsStreamWhileTheirSourceIsRead(t *testing.T) {
	const size = 4 << 20
	var out countingWriter
	src := &watchedSource{remaining: size, out: &out}
	m := delivery.Outgoing{
		From: mail.Address{Address: "noreply@portal.example"}, To: mail.Address{Address: "dr@clinic.example"},
		Subject: "x", Text: "x",
		Attachments: []delivery.OutgoingAttachment{{Name: "big.bin", Open: func() (io.ReadCloser, error) { return src, nil }}},
	}
	if err := delivery.WriteMessage(&out, m); err != nil {
		t.Fatal(err)
	}
	if !src.closed || src.writtenAtHalf < size/2 {
		t.Errorf("closed=%v; %d bytes written when half the source was read, want the first half already encoded", src.closed, src.writtenAtHalf)
	}
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// watchedSource yields zero bytes and notes how much output existed when
// half of it had been read.
type watchedSource struct {
	remaining, read, writtenAtHalf int
	out                            *countingWriter
	closed                         bool
}

func (s *watchedSource) Read(p []byte) (int, error) {
	if s.remaining == 0 {
		return 0, io.EOF
	}
	n := min(len(p), s.remaining, 32<<10)
	clear(p[:n])
	s.remaining -= n
	if s.read < 2<<20 && s.read+n >= 2<<20 {
		s.writtenAtHalf = s.out.n
	}
	s.read += n
	return n, nil
}

func (s *watchedSource) Close() error { s.closed = true; return nil }

// No field may smuggle a header: any CR or LF refuses the whole message
// before a byte is written.
func TestHeaderInjectionIsRefused(t *testing.T) {
	evil := "x\r\nBcc: attacker@evil.example"
	tests := map[string]func(*delivery.Outgoing){
		"Subject":                  func(m *delivery.Outgoing) { m.Subject = evil },
		"Subject with a bare LF":   func(m *delivery.Outgoing) { m.Subject = "x\nBcc: attacker@evil.example" },
		"Subject with a bare CR":   func(m *delivery.Outgoing) { m.Subject = "x\rBcc: attacker@evil.example" },
		"From name":                func(m *delivery.Outgoing) { m.From.Name = evil },
		"From address":             func(m *delivery.Outgoing) { m.From.Address = "a@b.example\r\nBcc: x@evil.example" },
		"To name":                  func(m *delivery.Outgoing) { m.To.Name = evil },
		"Reply-To name":            func(m *delivery.Outgoing) { m.ReplyTo = mail.Address{Name: evil, Address: "r@portal.example"} },
		"Message-ID":               func(m *delivery.Outgoing) { m.MessageID = "<a@b>\r\nBcc: x@evil.example" },
		"attachment name":          func(m *delivery.Outgoing) { m.Attachments[0].Name = evil },
		"attachment content type":  func(m *delivery.Outgoing) { m.Attachments[0].ContentType = "text/plain\r\nBcc: x@evil.example" },
		"NUL in the subject":       func(m *delivery.Outgoing) { m.Subject = "x\x00y" },
		"line break in an address": func(m *delivery.Outgoing) { m.To.Address = "dr@clinic.example\nBcc: x@evil.example" },
	}
	for name, spoil := range tests {
		t.Run(name, func(t *testing.T) {
			m := fullMessage(t)
			spoil(&m)
			var buf bytes.Buffer
			err := delivery.WriteMessage(&buf, m)
			if !errors.Is(err, delivery.ErrHeaderInjection) {
				t.Errorf("err = %v, want ErrHeaderInjection", err)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for a refused message", buf.Len())
			}
		})
	}
}

func TestWriteMessageRefusesInvalidAddresses(t *testing.T) {
	for _, addr := range []string{"", "no-at-sign", "a@b@c", "<a@b.example>"} {
		m := fullMessage(t)
		m.To.Address = addr
		if err := delivery.WriteMessage(io.Discard, m); err == nil {
			t.Errorf("To %q accepted", addr)
		}
	}
}

func TestTextOnlyMessageIsOnePart(t *testing.T) {
	var buf bytes.Buffer
	err := delivery.WriteMessage(&buf, delivery.Outgoing{
		From: mail.Address{Address: "noreply@portal.example"}, To: mail.Address{Address: "dr@clinic.example"},
		Subject: "[SECURE] Hello", Text: "Only text.",
	})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(&buf)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(msg.Body)
	if ct := msg.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" || !strings.Contains(string(body), "Only text.") {
		t.Errorf("Content-Type %q, body %q", ct, body)
	}
	if id := msg.Header.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@portal.example>") {
		t.Errorf("generated Message-ID %q", id)
	}
}
