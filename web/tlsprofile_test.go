package web

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
)

// serveHTTPS serves the portal over TLS itself (PORTAL_TLS_CERT) with an
// ECDSA test certificate.
func serveHTTPS(t *testing.T) string {
	t.Helper()
	cert := deliverytest.SelfSigned(t, "localhost")
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600)
	e := newTestEnv(t, map[string]string{"PORTAL_TLS_CERT": certFile, "PORTAL_TLS_KEY": keyFile, "PORTAL_BASE_URL": "https://localhost"})
	return serveReal(t, e, nil)
}

func handshake(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	cfg.InsecureSkipVerify = true // the self-signed test certificate
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

// The portal's own TLS follows Mozilla's "intermediate" profile: TLS 1.2
// and 1.3 only, and under 1.2 only ECDHE with an AEAD cipher. The CBC
// suites Go would otherwise offer (testssl.sh: obsolete, LUCKY13) and older
// versions fail the handshake.
func TestTLSIntermediateProfile(t *testing.T) {
	addr := serveHTTPS(t)
	refused := map[string]*tls.Config{
		"ECDHE-ECDSA-AES128-SHA (CBC)": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
		"ECDHE-ECDSA-AES256-SHA (CBC)": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}},
		"ECDHE-ECDSA-AES128-SHA256 (CBC)": {MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256}},
		"every CBC suite": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
			tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA256}},
		"TLS 1.1": {MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11},
	}
	for name, cfg := range refused {
		if st, err := handshake(addr, cfg); err == nil {
			t.Errorf("%s: handshake succeeded (%s, %s)", name, tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite))
		}
	}
	for _, suite := range []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	} {
		st, err := handshake(addr, &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{suite}})
		if err != nil || st.Version != tls.VersionTLS12 || st.CipherSuite != suite {
			t.Errorf("%s under TLS 1.2: %v", tls.CipherSuiteName(suite), err)
		}
	}
	if st, err := handshake(addr, &tls.Config{}); err != nil || st.Version != tls.VersionTLS13 {
		t.Errorf("a modern client: %v, version %s", err, tls.VersionName(st.Version))
	}

	// And the portal answers over it, HTTP/2 included.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}}
	res, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || res.ProtoMajor != 2 || res.Header.Get("Strict-Transport-Security") == "" {
		t.Errorf("GET /healthz over TLS: status %d, %s, HSTS %q", res.StatusCode, res.Proto, res.Header.Get("Strict-Transport-Security"))
	}
}
