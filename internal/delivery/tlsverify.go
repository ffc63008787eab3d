package delivery

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// loadRoots returns the system roots plus the PEM certificates in caFile.
func loadRoots(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // a minimal container may have none
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("delivery: read CA file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("delivery: CA file %s holds no PEM certificate", caFile)
	}
	return pool, nil
}

// certError is a certificate that failed verification, in plain words.
type certError struct{ reason string }

func (e *certError) Error() string { return e.reason }

// verifier checks an MX's certificate. The probe and the delivery use the
// same verifier, so a message goes only where the decision's checks held.
type verifier struct {
	roots *x509.CertPool
	now   func() time.Time
}

// config is the client TLS configuration for host. With usable TLSA
// records the certificate is checked against them (DANE, RFC 7672);
// otherwise against the roots and host's name (RFC 8461 §4.2 asks the
// same under MTA-STS).
func (v *verifier) config(host string, tlsa []*dns.TLSA) *tls.Config {
	return &tls.Config{
		ServerName: host,
		// TLS 1.0 and 1.1 are deprecated (RFC 8996).
		MinVersion: tls.VersionTLS12,
		// The standard check is replaced, not skipped: VerifyConnection
		// runs on every handshake and does the PKIX or DANE check itself,
		// so that both give reasons in plain words and use our clock.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return v.verify(cs.PeerCertificates, host, tlsa)
		},
	}
}

func (v *verifier) verify(certs []*x509.Certificate, host string, tlsa []*dns.TLSA) error {
	if len(certs) == 0 {
		return &certError{"presented no certificate"}
	}
	if len(tlsa) > 0 {
		return v.verifyDANE(certs, host, tlsa)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: poolOf(certs[1:]),
		DNSName:       host,
		CurrentTime:   v.now(),
	})
	if err != nil {
		return &certError{describeCertError(err, certs[0], v.now())}
	}
	return nil
}

func poolOf(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// describeCertError turns an x509 error into words a provider's IT can act
// on: "certificate expired on 2026-01-02", "name mismatch: certificate is
// for *.host.example", "self-signed certificate".
func describeCertError(err error, leaf *x509.Certificate, now time.Time) string {
	var invalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	var unknown x509.UnknownAuthorityError
	switch {
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		c := invalid.Cert
		which := "certificate"
		if !bytes.Equal(c.Raw, leaf.Raw) {
			which = "certificate chain: " + c.Subject.CommonName
		}
		if now.Before(c.NotBefore) {
			return fmt.Sprintf("%s is not valid until %s", which, c.NotBefore.UTC().Format(time.DateOnly))
		}
		return fmt.Sprintf("%s expired on %s", which, c.NotAfter.UTC().Format(time.DateOnly))
	case errors.As(err, &hostErr):
		return "name mismatch: certificate is for " + certNames(hostErr.Certificate)
	case errors.As(err, &unknown):
		if bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil {
			return "self-signed certificate"
		}
		return "certificate issued by an authority we do not trust (" + leaf.Issuer.String() + ")"
	}
	return "certificate not valid: " + err.Error()
}

func certNames(c *x509.Certificate) string {
	if len(c.DNSNames) > 0 {
		return strings.Join(c.DNSNames, ", ")
	}
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName + " (common name only, no DNS names)"
	}
	return "no name"
}
