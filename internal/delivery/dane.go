package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/miekg/dns"
)

// TLSA certificate usages that SMTP uses (RFC 7672 §3.1): the PKIX usages
// 0 and 1 are not, because MX hosts rarely have publicly trusted
// certificates and the client has no shared list of roots with the server.
const (
	daneTA = 2 // DANE-TA: a trust anchor in the presented chain
	daneEE = 3 // DANE-EE: the server's own key
)

// daneRecords returns the usable TLSA records of an MX host, or nil when
// DANE does not apply. DANE applies only when the resolver vouched (AD bit)
// for both the MX RRset and the TLSA RRset (RFC 7672 §2.2); an insecure
// answer means "no DANE", never "DANE failed". A secure domain whose TLSA
// lookup fails cannot be verified, so that MX is not used (§2.2.3).
func (c *Checker) daneRecords(ctx context.Context, host string, mxSecure bool) ([]*dns.TLSA, error) {
	if !mxSecure {
		return nil, nil
	}
	recs, secure, err := c.dns.tlsa(ctx, tlsaName(host, c.s.SMTPPort))
	if errors.Is(err, errNoSuchDomain) || (err == nil && !secure) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("TLSA lookup failed for a DNSSEC-signed MX: %w", err)
	}
	return usableTLSA(recs), nil
}

func tlsaName(host string, port int) string {
	return "_" + strconv.Itoa(port) + "._tcp." + host
}

// verifyDANE accepts the chain when a DANE-EE record matches the server's
// own certificate (no name or expiry checks, RFC 7672 §3.1.1), or when a
// DANE-TA record matches a certificate of the chain that then validates
// the server certificate for host (§3.1.2, §3.2.2).
func (v *verifier) verifyDANE(certs []*x509.Certificate, host string, tlsa []*dns.TLSA) error {
	for _, r := range tlsa {
		if r.Usage == daneEE && tlsaMatches(r, certs[0]) {
			return nil
		}
	}
	for _, r := range tlsa {
		if r.Usage != daneTA {
			continue
		}
		for i, anchor := range certs[1:] {
			if !tlsaMatches(r, anchor) {
				continue
			}
			_, err := certs[0].Verify(x509.VerifyOptions{
				Roots:         poolOf([]*x509.Certificate{anchor}),
				Intermediates: poolOf(certs[1 : i+1]),
				DNSName:       host,
				CurrentTime:   v.now(),
			})
			if err != nil {
				return &certError{"DANE trust anchor matched, but " + describeCertError(err, certs[0], v.now())}
			}
			return nil
		}
	}
	return &certError{"certificate matches none of the domain's DANE TLSA records"}
}

// tlsaMatches compares a certificate with a TLSA record (RFC 6698 §2.1).
func tlsaMatches(r *dns.TLSA, cert *x509.Certificate) bool {
	data := cert.Raw
	if r.Selector == 1 {
		data = cert.RawSubjectPublicKeyInfo
	}
	switch r.MatchingType {
	case 1:
		sum := sha256.Sum256(data)
		data = sum[:]
	case 2:
		sum := sha512.Sum512(data)
		data = sum[:]
	}
	want, err := hex.DecodeString(r.Certificate)
	return err == nil && bytes.Equal(want, data)
}
