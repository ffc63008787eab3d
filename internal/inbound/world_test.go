package inbound_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime/multipart"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/inbound"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/internal/testlog"
)

const (
	replyDomain   = "reply.portal.test"
	serverName    = "mx." + replyDomain
	providerEmail = "dr.lee@clinic.test"
	threadSubject = "Prior authorization for Maria Gomez"
)

// world is the portal's messaging over a fresh real database, built as
// app.New builds it (keyring, data keys, insert-only River client, the
// messaging store and service), one thread from a representative to a
// provider with a reply address, and the inbound server on loopback.
type world struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	messages *messaging.Service
	tokens   *postgres.ReplyTokens
	staff    messaging.Viewer
	thread   string
	token    string
	addr     string
	tls      testTLS
	logs     *testlog.Buffer
	received chan inbound.Received
	// stop ends Serve (once) and returns what it returned.
	stop func() error
}

// newWorld starts a world; tune changes the server's settings, replier
// (when not nil) stands in for the messaging service.
func newWorld(t *testing.T, tune func(*inbound.Settings), replier inbound.Replier) *world {
	t.Helper()
	discard := slog.New(slog.DiscardHandler)
	pool := pgtest.NewPool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "portal.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewMessagingStore(pool, postgres.NewDataKeys(pool, keyring, 64, discard), jobs,
		postgres.MessagingLimits{MaxFileBytes: 1 << 20, MaxFiles: 3})
	w := &world{t: t, ctx: context.Background(), pool: pool, messages: messaging.NewService(store),
		tokens: postgres.NewReplyTokens(pool), tls: newTestTLS(t), logs: &testlog.Buffer{}, received: make(chan inbound.Received, 8)}
	var staffID int64
	if err := pool.QueryRow(w.ctx, `INSERT INTO users (email, display_name, role, status) VALUES ('rep@plan.test', 'Rosa Rep', 'staff', 'pending') RETURNING id`).Scan(&staffID); err != nil {
		t.Fatal(err)
	}
	w.staff = messaging.Viewer{UserID: staffID, Staff: true, IP: "192.0.2.10"}
	w.thread, w.token = w.newThread(threadSubject)

	settings := inbound.Settings{Domain: replyDomain, Hostname: serverName, TLS: w.tls.server, MaxMessageBytes: 2 << 20,
		MaxFiles: 3, MaxFileBytes: 1 << 20, SpoolDir: t.TempDir(), ShutdownGrace: 2 * time.Second}
	if tune != nil {
		tune(&settings)
	}
	if replier == nil {
		replier = w.messages
	}
	srv := inbound.New(settings, w.tokens, replier, slog.New(slog.NewJSONHandler(w.logs, nil)))
	srv.OnReceived = func(r inbound.Received) {
		select {
		case w.received <- r:
		default: // a test that does not look at them
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w.addr = ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	w.stop = sync.OnceValue(func() error {
		cancel()
		return <-served
	})
	t.Cleanup(func() {
		if err := w.stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return w
}

// newThread is a representative's new message to the provider, and a reply
// token for it.
func (w *world) newThread(subject string) (thread, token string) {
	w.t.Helper()
	thread, err := w.messages.StartToProvider(w.ctx, w.staff, providerEmail, subject, "Please send the chart notes.", 0, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	token, err = w.tokens.MintReplyToken(w.ctx, thread)
	if err != nil {
		w.t.Fatal(err)
	}
	return thread, token
}

func (w *world) replyAddress() string { return "reply+" + w.token + "@" + replyDomain }

// send delivers msg as a provider's mail server would: EHLO, STARTTLS
// (verifying the server's certificate against the test CA), MAIL, RCPT,
// DATA. It returns the first refusal.
func (w *world) send(from, to string, msg []byte) error {
	w.t.Helper()
	c, err := smtp.DialStartTLS(w.addr, w.tls.client())
	if err != nil {
		w.t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	if err := c.Rcpt(to, nil); err != nil {
		return err
	}
	data, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := data.Write(msg); err != nil {
		return err
	}
	if err := data.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// wantAnswer fails unless err is the SMTP answer want ("550 5.1.1"); ""
// means accepted.
func wantAnswer(t *testing.T, what string, err error, want string) {
	t.Helper()
	got := "accepted"
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		got = fmt.Sprintf("%d %d.%d.%d %s", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
	} else if err != nil {
		got = err.Error()
	}
	if want == "" && err != nil || want != "" && !strings.HasPrefix(got, want) {
		t.Errorf("%s: answer %q, want %q", what, got, cmp.Or(want, "accepted"))
	}
}

// count runs a SELECT count(*).
func (w *world) count(sql string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(w.ctx, sql, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// wantNothingStored fails unless the thread still holds only the
// representative's first message, with no files.
func (w *world) wantNothingStored(what string) {
	w.t.Helper()
	if n := w.count(`SELECT count(*) FROM messages WHERE thread_id = $1`, w.thread); n != 1 {
		w.t.Errorf("%s: thread has %d messages, want only the first", what, n)
	}
	if n := w.count(`SELECT count(*) FROM attachments`); n != 0 {
		w.t.Errorf("%s: %d attachments stored", what, n)
	}
}

// lastMessage is the newest message of the thread as the representative
// sees it.
func (w *world) lastMessage() messaging.Message {
	w.t.Helper()
	th, err := w.messages.Thread(w.ctx, w.staff, w.thread)
	if err != nil {
		w.t.Fatal(err)
	}
	return th.Messages[len(th.Messages)-1]
}

// download is an attachment's bytes as the representative downloads them.
func (w *world) download(id string) []byte {
	w.t.Helper()
	_, r, err := w.messages.OpenAttachment(w.ctx, w.staff, id)
	if err != nil {
		w.t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		w.t.Fatal(err)
	}
	return b
}

// file is an attachment of a composed message, with Content-Disposition
// "attachment" unless inline is set (as some clients send files shown in
// the text).
type file struct {
	name, contentType string
	data              []byte
	inline            bool
}

// compose writes a reply as a mail client would: a text/plain body, or
// multipart/mixed with each file in base64, CRLF line ends throughout.
func compose(from, to, text string, files ...file) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Re: %s\r\nMIME-Version: 1.0\r\n", from, to, threadSubject)
	if len(files) == 0 {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\r\n\r\n%s", text)
		return b.Bytes()
	}
	mw := multipart.NewWriter(&b)
	fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=%s\r\n\r\n", mw.Boundary())
	p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {"text/plain; charset=utf-8"}})
	io.WriteString(p, text)
	for _, f := range files {
		disposition := "attachment"
		if f.inline {
			disposition = "inline"
		}
		p, _ := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {f.contentType},
			"Content-Disposition": {disposition + `; filename="` + f.name + `"`}, "Content-Transfer-Encoding": {"base64"}})
		enc := base64.StdEncoding.EncodeToString(f.data)
		for len(enc) > 76 {
			io.WriteString(p, enc[:76]+"\r\n")
			enc = enc[76:]
		}
		io.WriteString(p, enc+"\r\n")
	}
	mw.Close()
	return b.Bytes()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// testTLS is a test CA and a server certificate it issued for serverName
// and 127.0.0.1.
type testTLS struct {
	server *tls.Config
	roots  *x509.CertPool
	caFile string
}

func newTestTLS(t *testing.T) testTLS {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "inbound test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTemplate := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: serverName},
		DNSNames: []string{serverName}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTemplate, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return testTLS{server: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}},
		roots: roots, caFile: caFile}
}

func (c testTLS) client() *tls.Config { return &tls.Config{RootCAs: c.roots, ServerName: serverName} }
