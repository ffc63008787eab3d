// Package deliverytest provides real peers on loopback for tests of TLS-
// first delivery: a test certificate authority, SMTP servers that behave
// like good and bad MX hosts, an MTA-STS policy server and a World that
// ties them to a local DNS server. Nothing here touches a real domain.
package deliverytest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority. Its PEM file is what tests pass as
// the delivery CA file (PORTAL_DELIVERY_CA_FILE).
type CA struct {
	Cert *x509.Certificate
	key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA creates a CA valid from an hour ago for ten years.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, sn := mustKeyAndSerial(t)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "Secure Portal Test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("deliverytest: create CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("deliverytest: parse CA: %v", err)
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// WriteFile writes the CA certificate as PEM into a temporary directory
// and returns its path.
func (ca *CA) WriteFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test-ca.pem")
	if err := os.WriteFile(path, ca.PEM, 0o600); err != nil {
		t.Fatalf("deliverytest: write CA file: %v", err)
	}
	return path
}

// Leaf issues a certificate for names, valid from an hour ago for a day.
// Given other names than the host's, it is the wrong-name certificate.
func (ca *CA) Leaf(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names...)
}

// Expired issues a certificate for names that expired yesterday.
func (ca *CA) Expired(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour), names...)
}

// Issue issues a certificate for names valid between notBefore and
// notAfter.
func (ca *CA) Issue(t testing.TB, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	cert, err := ca.issue(notBefore, notAfter, names...)
	if err != nil {
		t.Fatalf("deliverytest: %v", err)
	}
	return cert
}

func (ca *CA) issue(notBefore, notAfter time.Time, names ...string) (tls.Certificate, error) {
	key, sn, err := keyAndSerial()
	if err != nil {
		return tls.Certificate{}, err
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTemplate(sn, notBefore, notAfter, names), ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue certificate for %v: %w", names, err)
	}
	return withLeaf(der, key, ca.Cert.Raw)
}

// SelfSigned makes a certificate for names signed by its own key, as many
// mail servers ship out of the box.
func SelfSigned(t testing.TB, names ...string) tls.Certificate {
	t.Helper()
	key, sn := mustKeyAndSerial(t)
	tmpl := leafTemplate(sn, time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), names)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("deliverytest: self-signed certificate: %v", err)
	}
	cert, err := withLeaf(der, key)
	if err != nil {
		t.Fatalf("deliverytest: %v", err)
	}
	return cert
}

func leafTemplate(sn *big.Int, notBefore, notAfter time.Time, names []string) *x509.Certificate {
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if len(names) > 0 {
		tmpl.Subject = pkix.Name{CommonName: names[0]}
	}
	return tmpl
}

func withLeaf(der []byte, key *ecdsa.PrivateKey, chain ...[]byte) (tls.Certificate, error) {
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("parse certificate: %w", err)
	}
	return tls.Certificate{Certificate: append([][]byte{der}, chain...), PrivateKey: key, Leaf: leaf}, nil
}
