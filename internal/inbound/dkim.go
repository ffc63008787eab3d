package inbound

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

const (
	// dnsTimeout bounds one DKIM key lookup.
	dnsTimeout = 5 * time.Second
	// maxSignatures bounds the keys looked up for one message: each
	// signature costs a DNS query and a hash of the body.
	maxSignatures = 5
)

// errIncomplete stops a DKIM check whose message did not arrive whole.
var errIncomplete = errors.New("inbound: message incomplete")

// dkimCheck verifies a message's DKIM signatures (RFC 6376) while it
// streams past on its way to the parser, so the message is read once and
// never held whole.
type dkimCheck struct {
	reader io.Reader // the message, for the parser
	pw     *io.PipeWriter
	done   chan DKIMResult
}

// checkDKIM starts checking what is read through the returned check's
// reader. With no resolver configured nothing is checked: the result is
// DKIMNone.
func (srv *Server) checkDKIM(ctx context.Context, r io.Reader, from string) *dkimCheck {
	if srv.settings.Resolver == "" {
		return &dkimCheck{reader: r}
	}
	pr, pw := io.Pipe()
	c := &dkimCheck{reader: io.TeeReader(r, pw), pw: pw, done: make(chan DKIMResult, 1)}
	lookup := txtLookup(ctx, srv.settings.Resolver)
	go func() {
		verifications, err := dkim.VerifyWithOptions(pr, &dkim.VerifyOptions{LookupTXT: lookup, MaxVerifications: maxSignatures})
		// Verify may stop reading early (no signature); the parser's reads
		// must never block on the pipe.
		io.Copy(io.Discard, pr)
		c.done <- verdict(verifications, err, from)
	}()
	return c
}

// finish returns the result. When the message was read whole, what the
// parser left unread (an epilogue) still goes through the check, since the
// body hash covers it; otherwise the check is abandoned and says DKIMNone.
func (c *dkimCheck) finish(complete bool) DKIMResult {
	if c.pw == nil {
		return DKIMNone
	}
	if complete {
		if _, err := io.Copy(io.Discard, c.reader); err != nil {
			complete = false
		}
	}
	if !complete {
		c.pw.CloseWithError(errIncomplete)
		<-c.done
		return DKIMNone
	}
	c.pw.Close()
	return <-c.done
}

// verdict is pass when a signature of the envelope sender's domain, or of a
// parent domain (relaxed alignment, as DMARC has it: RFC 7489 §3.1.1),
// verified. A valid signature of some other domain (or of a bare top-level
// domain) proves nothing about the provider, so it does not count.
func verdict(vs []*dkim.Verification, err error, from string) DKIMResult {
	if len(vs) == 0 && err == nil {
		return DKIMNone
	}
	_, domain, _ := strings.Cut(strings.ToLower(from), "@")
	for _, v := range vs {
		d := strings.ToLower(strings.TrimSuffix(v.Domain, "."))
		if v.Err == nil && strings.Contains(d, ".") && (domain == d || strings.HasSuffix(domain, "."+d)) {
			return DKIMPass
		}
	}
	return DKIMFail
}

// txtLookup asks only the configured DNS server, never the system's
// resolver: tests and development use a loopback server that knows only
// made-up domains, and production names the server it trusts.
func txtLookup(ctx context.Context, server string) func(string) ([]string, error) {
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, server)
	}}
	return func(name string) ([]string, error) {
		ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
		defer cancel()
		// Fully qualified, so no search domain of resolv.conf is appended.
		return r.LookupTXT(ctx, strings.TrimSuffix(name, ".")+".")
	}
}
