package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// Transport delivers a message straight to the recipient's MX over TLS
// verified exactly as the Decision's check was: same roots, same name,
// same DANE records, TLS 1.2 or later.
type Transport struct {
	s      Settings
	dns    *resolver
	verify *verifier
	log    *slog.Logger
}

// NewTransport returns a transport for s.
func NewTransport(s Settings, log *slog.Logger) (*Transport, error) {
	s, r, v, err := prepare(s)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Transport{s: s, dns: r, verify: v, log: log}, nil
}

// Deliver sends one message to rcpt through d.MX. MAIL, RCPT and DATA go
// only over an established, verified TLS connection; the plaintext part of
// the session carries nothing but EHLO and STARTTLS.
//
// An error wrapping ErrFallback is permanent (no STARTTLS, a certificate
// that fails, TLS too old, a 5xx reply, or a decision that is not TLS):
// hold the message in the portal and notify. Any other error (4xx,
// network) is temporary: retry, and fall back after a while.
func (t *Transport) Deliver(ctx context.Context, d Decision, envelopeFrom, rcpt string, writeMessage func(io.Writer) error) error {
	if d.Method != MethodTLS || d.MX == "" {
		return fmt.Errorf("delivery: deliver to %s: decision is %s: %w", d.Domain, d.Method, ErrFallback)
	}
	if err := checkEnvelope(envelopeFrom, rcpt, d.Domain); err != nil {
		return fmt.Errorf("delivery: deliver to %s: %w: %w", d.Domain, ErrFallback, err)
	}
	start := time.Now()
	sc, err := t.connect(ctx, d)
	if err != nil {
		return t.failed(ctx, d, "connect", err)
	}
	defer func() { _ = sc.client.Close() }()
	stop := context.AfterFunc(ctx, func() { _ = sc.client.Close() })
	defer stop()

	if err := send(sc.client, envelopeFrom, rcpt, writeMessage); err != nil {
		return t.failed(ctx, d, "send", err)
	}
	_ = sc.client.Quit()
	t.log.InfoContext(ctx, "delivery: delivered over tls", "domain", d.Domain, "mx", d.MX,
		"tls_version", tls.VersionName(sc.state.Version), "dane", d.DANE, "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// connect opens a verified session to one of d.MX's addresses.
func (t *Transport) connect(ctx context.Context, d Decision) (*secureConn, error) {
	var tlsa []*dns.TLSA
	if d.DANE {
		recs, secure, err := t.dns.tlsa(ctx, tlsaName(d.MX, t.s.SMTPPort))
		if err != nil && !errors.Is(err, errNoSuchDomain) {
			return nil, err
		}
		if tlsa = usableTLSA(recs); len(tlsa) == 0 || !secure {
			// The check verified by DANE; with the records gone we cannot
			// verify the same way, so the message takes the portal.
			return nil, &smtpError{stage: stageCertificate, reason: d.MX + " no longer publishes usable TLSA records", permanent: true}
		}
	}
	addrs, err := t.dns.addrs(ctx, d.MX)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, addr := range addrs[:min(len(addrs), maxAddrsPerHost)] {
		sc, err := openSecure(ctx, t.s, d.MX, addr, t.verify.config(d.MX, tlsa))
		if err == nil {
			return sc, nil
		}
		var se *smtpError
		if !errors.As(err, &se) || se.stage != stageConnect {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// errTransactionOver stops a message writer whose transaction ended early.
var errTransactionOver = errors.New("mail transaction ended")

// send runs the mail transaction with go-smtp's SendMail (which also asks
// for SMTPUTF8 when an address needs it), fed through a pipe so the
// message streams. If writeMessage fails, SendMail returns before the
// final dot and the caller closes the connection, so the server discards
// the partial message (RFC 5321 §4.1.1.4).
func send(c *smtp.Client, from, rcpt string, writeMessage func(io.Writer) error) error {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeMessage(pw)
		_ = pw.CloseWithError(err) // nil: the reader sees EOF
		written <- err
	}()
	err := c.SendMail(from, []string{rcpt}, pr)
	_ = pr.CloseWithError(errTransactionOver) // frees a writer no longer read
	if werr := <-written; err == nil && werr != nil {
		err = werr
	}
	return err
}

// failed classifies err: permanent ones wrap ErrFallback.
func (t *Transport) failed(ctx context.Context, d Decision, stage string, err error) error {
	permanent := false
	var se *smtpError
	var reply *smtp.SMTPError
	switch {
	case ctx.Err() != nil:
		// Our own shutdown or deadline says nothing about the recipient.
	case errors.As(err, &se):
		permanent = se.permanent
	case errors.As(err, &reply):
		permanent = reply.Code >= 500
	}
	// A reply to RCPT or DATA may echo the recipient's address, so only
	// its code is logged; the caller gets the whole error.
	detail := slog.Any("err", err)
	if reply != nil {
		detail = slog.Int("reply_code", reply.Code)
	}
	t.log.WarnContext(ctx, "delivery: tls delivery failed", "domain", d.Domain, "mx", d.MX,
		"stage", stage, "permanent", permanent, detail)
	if permanent {
		return fmt.Errorf("delivery: deliver to %s via %s: %w: %w", d.Domain, d.MX, ErrFallback, err)
	}
	return fmt.Errorf("delivery: deliver to %s via %s: %w", d.Domain, d.MX, err)
}

// checkEnvelope refuses addresses that could smuggle SMTP commands and a
// recipient outside the decided domain (a decision for one domain must
// never route another domain's mail).
func checkEnvelope(from, rcpt, domain string) error {
	if strings.ContainsAny(from+rcpt, "\r\n<> ") {
		return errors.New("envelope address contains a forbidden character")
	}
	at := strings.LastIndexByte(rcpt, '@')
	if at < 1 || !strings.EqualFold(strings.TrimSuffix(rcpt[at+1:], "."), domain) {
		return fmt.Errorf("recipient is not in %s", domain)
	}
	return nil
}

// usableTLSA keeps the records SMTP uses: DANE-TA and DANE-EE with known
// selectors and matching types (RFC 7672 §3.1). With only unusable records
// the RFC allows unauthenticated TLS; we never deliver without
// verification, so then the CA roots decide.
func usableTLSA(recs []*dns.TLSA) []*dns.TLSA {
	var out []*dns.TLSA
	for _, r := range recs {
		if (r.Usage == daneTA || r.Usage == daneEE) && r.Selector <= 1 && r.MatchingType <= 2 {
			out = append(out, r)
		}
	}
	return out
}
