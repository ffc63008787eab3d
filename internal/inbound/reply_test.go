package inbound_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/healthnet/secureportal/internal/messaging"
)

// The provider's reply lands in the thread as theirs, whatever case their
// server gives their address; the body is the text they wrote, decoded,
// quoted history kept; HTML alone is reduced to its text.
func TestInboundReplyBodies(t *testing.T) {
	w := newWorld(t, nil, nil)
	cases := []struct {
		name, from, message, want string
	}{
		{"quoted history kept", "Dr.Lee@Clinic.TEST",
			string(compose(providerEmail, w.replyAddress(), "Notes follow.\r\n\r\nOn Monday, Rosa Rep wrote:\r\n> Please send the chart notes.\r\n")),
			"Notes follow.\n\nOn Monday, Rosa Rep wrote:\n> Please send the chart notes."},
		{"latin-1, quoted-printable", providerEmail,
			"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSe=F1ora G=F3mez is seen on Friday.\r\n",
			"Señora Gómez is seen on Friday."},
		{"plain preferred to its HTML alternative", providerEmail,
			"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlain words.\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>HTML words.</p>\r\n--b--\r\n",
			"Plain words."},
		{"HTML only", providerEmail,
			"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>Re</title><style>p{color:red}</style></head><body>" +
				"<p>Chart notes are <b>attached</b>&nbsp;now.</p><div>Thanks,<br>Dr&nbsp;Lee</div><script>alert(1)</script></body></html>\r\n",
			"Chart notes are attached now.\nThanks,\nDr Lee"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantAnswer(t, "reply", w.send(c.from, w.replyAddress(), []byte(c.message)), "")
			m := w.lastMessage()
			if !m.FromProvider || strings.TrimSpace(m.Body) != c.want {
				t.Errorf("last message (from provider %v): %q, want %q", m.FromProvider, m.Body, c.want)
			}
		})
	}
}

// Every refusal answers with its code and leaves the thread as it was: the
// store's transaction never commits part of a reply.
func TestInboundRefusesBadRepliesAndStoresNothing(t *testing.T) {
	w := newWorld(t, nil, nil)
	revokedThread, revokedToken := w.newThread("Revoked thread")
	if err := w.tokens.RevokeReplyTokens(w.ctx, revokedThread); err != nil {
		t.Fatal(err)
	}
	small := func(name string) file {
		return file{name: name, contentType: "application/pdf", data: []byte("%PDF-1.4 " + name)}
	}
	to := w.replyAddress()
	cases := []struct {
		name, from, to string
		message        []byte
		want           string
	}{
		{"unknown token", providerEmail, "reply+" + strings.Repeat("a", 32) + "@" + replyDomain, compose(providerEmail, to, "Hi"), "550 5.1.1"},
		{"revoked token", providerEmail, "reply+" + revokedToken + "@" + replyDomain, compose(providerEmail, to, "Hi"), "550 5.1.1"},
		{"not a reply address", providerEmail, "postmaster@" + replyDomain, compose(providerEmail, to, "Hi"), "550 5.1.1"},
		{"another domain", providerEmail, "reply+" + w.token + "@elsewhere.test", compose(providerEmail, to, "Hi"), "550 5.7.1 Relaying"},
		{"sender not the provider", "office@clinic.test", to, compose("office@clinic.test", to, "Hi"), "550 5.7.1 This sender"},
		{"null sender", "", to, compose(providerEmail, to, "Hi"), "550 5.7.1 This sender"},
		{"executable", providerEmail, to, compose(providerEmail, to, "Setup attached", file{"setup.exe", "application/octet-stream", []byte("MZ"), false}),
			"550 5.7.1 Attachment type not accepted"},
		{"executable behind a document name", providerEmail, to,
			compose(providerEmail, to, "Report", small("report.pdf"), file{"report.pdf.EXE", "application/pdf", []byte("MZ"), false}), "550 5.7.1 Attachment type"},
		{"message over the size limit, each file within", providerEmail, to, compose(providerEmail, to, "Scans",
			file{"a.pdf", "application/pdf", make([]byte, 900<<10), false}, file{"b.pdf", "application/pdf", make([]byte, 900<<10), false}), "552 5.3.4"},
		{"attachment over the file limit", providerEmail, to, compose(providerEmail, to, "Scan", file{"scan.pdf", "application/pdf", make([]byte, 1<<20+1), false}), "552 5.3.4"},
		{"too many attachments", providerEmail, to, compose(providerEmail, to, "Four", small("a.pdf"), small("b.pdf"), small("c.pdf"), small("d.pdf")), "552 5.3.4"},
		{"no text", providerEmail, to, compose(providerEmail, to, " \r\n", small("a.pdf")), "550 5.6.0"},
		{"broken base64", providerEmail, to, []byte("Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
			"--b\r\nContent-Type: text/plain\r\n\r\nScan attached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=scan.pdf\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n%%%% not base64 %%%%\r\n--b--\r\n"), "550 5.6.0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantAnswer(t, c.name, w.send(c.from, c.to, c.message), c.want)
			w.wantNothingStored(c.name)
		})
	}
	if logs := w.logs.String(); strings.Contains(logs, w.token) || strings.Contains(logs, revokedToken) {
		t.Errorf("a reply token was logged:\n%s", logs)
	}
}

// failingReplier is a Replier that fails with the error it is set to: the
// answers to the store's own refusals, which the checks in this package
// usually preempt.
type failingReplier struct{ err atomic.Value }

func (r *failingReplier) Reply(context.Context, messaging.Viewer, string, string, messaging.Uploads) error {
	return r.err.Load().(error)
}

// Each domain error has its SMTP answer; an unexpected one is temporary
// (the sender's server retries) and logged, and the answer does not repeat
// it.
func TestInboundAnswersEachStoreError(t *testing.T) {
	replier := &failingReplier{}
	w := newWorld(t, nil, replier)
	cases := []struct {
		err  error
		want string
	}{
		{messaging.ErrFileRefused, "550 5.7.1 Attachment type not accepted"},
		{messaging.ErrTooLarge, "552 5.3.4"},
		{messaging.ErrTooManyFiles, "552 5.3.4"},
		{messaging.FieldErrors{"body": "Write a message."}, "550 5.6.0"},
		{messaging.ErrNotFound, "550 5.1.1"},
		{messaging.ErrWithdrawn, "550 5.1.1"},
		{errors.New("connection to database refused"), "451 4.3.0 Temporary failure"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			replier.err.Store(fmt.Errorf("postgres: reply: %w", c.err))
			before := len(w.logs.String())
			err := w.send(providerEmail, w.replyAddress(), compose(providerEmail, w.replyAddress(), "Hello"))
			wantAnswer(t, c.err.Error(), err, c.want)
			if strings.Contains(err.Error(), "database") {
				t.Errorf("the answer repeats the internal error: %v", err)
			}
			logged := w.logs.String()[before:]
			if wantLogged := strings.HasPrefix(c.want, "451"); strings.Contains(logged, "connection to database refused") != wantLogged {
				t.Errorf("internal error logged: want %v:\n%s", wantLogged, logged)
			}
		})
	}
}

// A reply's files are stored with it, each decrypting to the bytes sent:
// one larger than an encryption segment, so streaming is exercised, and
// text files, attached or shown inline, which are files and not the body,
// and whose bytes are not transcoded whatever charset they declare.
func TestInboundReplyKeepsEveryAttachmentIntact(t *testing.T) {
	w := newWorld(t, nil, nil)
	files := []file{
		{"scan.pdf", "application/pdf", randomBytes(t, 300<<10), false},
		{"labs.csv", "text/csv", []byte("date,test,value\n2024-05-01,A1C,6.1\n"), false},
		{"notes.txt", "text/plain; charset=windows-1252", []byte("Seen by Dr Ren\xe9e on 1 May.\n"), true},
	}
	wantAnswer(t, "reply", w.send(providerEmail, w.replyAddress(), compose(providerEmail, w.replyAddress(), "All attached.", files...)), "")
	m := w.lastMessage()
	if strings.TrimSpace(m.Body) != "All attached." || len(m.Attachments) != len(files) {
		t.Fatalf("body %q and attachments %+v, want the text and %d files", m.Body, m.Attachments, len(files))
	}
	for i, want := range files {
		a := m.Attachments[i]
		if a.Name != want.name || !bytes.Equal(w.download(a.ID), want.data) {
			t.Errorf("attachment %d: %q, want %q with the bytes sent", i, a.Name, want.name)
		}
	}
	if r := <-w.received; r.ThreadID != w.thread || r.Attachments != len(files) || r.RemoteIP != "127.0.0.1" {
		t.Errorf("received %+v", r)
	}
}

// File names arrive encoded as mail clients encode them, RFC 2047 words or
// RFC 2231 parameters, in charsets other than UTF-8 too; they are stored as
// the provider sees them.
func TestInboundDecodesFileNames(t *testing.T) {
	w := newWorld(t, nil, nil)
	msg := "Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nTwo files.\r\n" +
		"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"=?windows-1252?Q?R=E9sum=E9.pdf?=\"\r\n\r\n%PDF-1.4\r\n" +
		"--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sultats.csv\r\n\r\na,b\r\n--b--\r\n"
	wantAnswer(t, "reply", w.send(providerEmail, w.replyAddress(), []byte(msg)), "")
	m := w.lastMessage()
	var names []string
	for _, a := range m.Attachments {
		names = append(names, a.Name)
	}
	if strings.Join(names, "|") != "Résumé.pdf|résultats.csv" {
		t.Errorf("stored names %q", names)
	}
}
