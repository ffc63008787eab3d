package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/textproto"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-smtp"
)

// secureConn is an SMTP session to an MX that completed STARTTLS with a
// verified certificate. Only through it are MAIL, RCPT and DATA sent.
type secureConn struct {
	client *smtp.Client
	state  tls.ConnectionState
}

// smtpStage is how far a connection to an MX got.
type smtpStage int

const (
	stageConnect smtpStage = iota
	stageSMTP
	stageSTARTTLS
	stageTLS
	stageCertificate
	stageAfterTLS
	stageDone
)

var stageNames = map[smtpStage]string{
	stageConnect: "connect", stageSMTP: "SMTP", stageSTARTTLS: "STARTTLS", stageTLS: "TLS version",
	stageCertificate: "certificate", stageAfterTLS: "SMTP after STARTTLS",
}

// smtpError is a failed stage of reaching an MX, with the words for the
// delivery record and whether trying again could help.
type smtpError struct {
	stage     smtpStage
	reason    string
	advice    string // overrides the stage's usual advice
	permanent bool
	err       error
}

func (e *smtpError) Error() string { return e.reason }
func (e *smtpError) Unwrap() error { return e.err }

// openSecure connects to host at addr, says EHLO, requires STARTTLS and
// completes the TLS handshake with cfg before anything else is sent.
//
// The plaintext part is ours rather than go-smtp's because go-smtp v0.25
// has no Client.StartTLS and its NewClientStartTLS greets as "localhost",
// which receivers may refuse (RFC 5321 §4.1.4 wants our own name). Once TLS
// is up, go-smtp's client takes over on the encrypted connection.
func openSecure(ctx context.Context, s Settings, host string, addr netip.Addr, cfg *tls.Config) (*secureConn, error) {
	d := net.Dialer{Timeout: s.ConnectTimeout}
	raw, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(addr, uint16(s.SMTPPort)).String())
	if err != nil {
		return nil, &smtpError{stage: stageConnect, reason: "could not connect to " + host + ": " + shortNetError(err), err: err}
	}
	sc, err := startTLS(ctx, s, host, raw, cfg)
	if err != nil {
		_ = raw.Close()
		return nil, err
	}
	return sc, nil
}

func startTLS(ctx context.Context, s Settings, host string, raw net.Conn, cfg *tls.Config) (*secureConn, error) {
	// One deadline for the whole plaintext part and the handshake, on the
	// real clock (Settings.Now may be a test's).
	if err := raw.SetDeadline(time.Now().Add(s.CommandTimeout)); err != nil {
		return nil, &smtpError{stage: stageConnect, reason: "connection to " + host + " failed", err: err}
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.Close() })
	defer stop()

	tp := textproto.NewConn(raw)
	if _, _, err := tp.ReadResponse(220); err != nil {
		return nil, replyError(host, stageSMTP, "the connection", err)
	}
	msg, err := command(tp, 250, "EHLO "+s.HELO)
	if err != nil {
		return nil, replyError(host, stageSMTP, "EHLO", err)
	}
	if !hasExtension(msg, "STARTTLS") {
		return nil, &smtpError{stage: stageSTARTTLS, reason: host + " offered no STARTTLS", permanent: true}
	}
	if _, err := command(tp, 220, "STARTTLS"); err != nil {
		return nil, replyError(host, stageSTARTTLS, "STARTTLS", err)
	}
	// Anything sent after the 220 and before the handshake came in
	// plaintext: the STARTTLS response injection of "Why TLS is better
	// without STARTTLS" (USENIX Security 2021). The handshake below reads
	// the raw connection, so it could not be mistaken for TLS data, but a
	// stream that shows tampering is not one to trust with PHI.
	if tp.R.Buffered() > 0 {
		return nil, &smtpError{stage: stageSTARTTLS, reason: host + " sent data before the TLS handshake", permanent: true}
	}

	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, handshakeError(host, err)
	}
	state := tc.ConnectionState()
	if state.Version < tls.VersionTLS12 { // cfg says so too; be sure
		return nil, &smtpError{stage: stageTLS, reason: host + " negotiated " + tls.VersionName(state.Version), permanent: true}
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		return nil, &smtpError{stage: stageConnect, reason: "connection to " + host + " failed", err: err}
	}

	// After STARTTLS the server sends no new greeting, but go-smtp's client
	// waits for one; hand it a synthetic 220 and let it say EHLO again, as
	// RFC 3207 §4.2 requires.
	client := smtp.NewClient(&greetedConn{Conn: tc, pending: []byte("220 " + host + " TLS established\r\n")})
	client.CommandTimeout = s.CommandTimeout
	client.SubmissionTimeout = s.DataTimeout
	if err := client.Hello(s.HELO); err != nil {
		_ = client.Close()
		return nil, replyError(host, stageAfterTLS, "EHLO after STARTTLS", err)
	}
	return &secureConn{client: client, state: state}, nil
}

// command sends one command and reads its reply.
func command(tp *textproto.Conn, expect int, line string) (string, error) {
	id, err := tp.Cmd("%s", line)
	if err != nil {
		return "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	_, msg, err := tp.ReadResponse(expect)
	return msg, err
}

// hasExtension reads an EHLO reply: the first line greets, each further
// line names an extension (RFC 5321 §4.1.1.1).
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		if name, _, _ := strings.Cut(strings.TrimSpace(l), " "); strings.EqualFold(name, ext) {
			return true
		}
	}
	return false
}

// replyError words a failed SMTP exchange: 5xx is permanent, 4xx and a
// broken connection are worth another try.
func replyError(host string, stage smtpStage, what string, err error) error {
	code := 0
	var tpErr *textproto.Error
	var smtpErr *smtp.SMTPError
	switch {
	case errors.As(err, &tpErr):
		code = tpErr.Code
		err = fmt.Errorf("%d %s", tpErr.Code, tpErr.Msg)
	case errors.As(err, &smtpErr):
		code = smtpErr.Code
	}
	if code == 0 {
		return &smtpError{stage: stage, reason: fmt.Sprintf("%s: connection failed at %s: %s", host, what, shortNetError(err)), err: err}
	}
	return &smtpError{
		stage:     stage,
		reason:    fmt.Sprintf("%s refused %s: %s", host, what, err),
		permanent: code >= 500,
		err:       err,
	}
}

// handshakeError words a failed TLS handshake. A certificate or protocol
// version problem is permanent; a dropped connection may be transient.
func handshakeError(host string, err error) error {
	var ce *certError
	var recordErr tls.RecordHeaderError
	msg := err.Error()
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &smtpError{stage: stageTLS, reason: host + ": TLS handshake interrupted", err: err}
	case errors.As(err, &ce):
		return &smtpError{stage: stageCertificate, reason: host + ": " + ce.reason, permanent: true, err: err}
	case strings.Contains(msg, "protocol version"):
		// crypto/tls reports the peer's protocol_version alert only as
		// text (its alert type is unexported).
		return &smtpError{stage: stageTLS, reason: host + " supports only TLS versions older than 1.2", permanent: true, err: err}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return &smtpError{stage: stageTLS, reason: host + " dropped the connection during the TLS handshake", err: err,
			advice: "Check the TLS set-up of " + host + ": it accepts STARTTLS but then closes the connection (often a missing certificate or key)."}
	case errors.As(err, &recordErr):
		return &smtpError{stage: stageTLS, reason: host + " did not answer STARTTLS with TLS", permanent: true, err: err}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return &smtpError{stage: stageTLS, reason: host + ": TLS handshake failed: " + shortNetError(err), err: err}
	}
	return &smtpError{stage: stageTLS, reason: host + ": TLS handshake failed: " + msg, permanent: true, err: err}
}

func shortNetError(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	return err.Error()
}

// greetedConn returns pending before reading from the connection.
type greetedConn struct {
	net.Conn
	pending []byte
}

func (g *greetedConn) Read(p []byte) (int, error) {
	if len(g.pending) > 0 {
		n := copy(p, g.pending)
		g.pending = g.pending[n:]
		return n, nil
	}
	return g.Conn.Read(p)
}
