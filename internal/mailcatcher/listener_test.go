package mailcatcher

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wneessen/go-mail"
)

// selfSigned makes a certificate for host and a pool that trusts it.
func selfSigned(t *testing.T, host string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// sendTo sends one mail to addr with go-mail under the given TLS policy.
func sendTo(t *testing.T, addr string, policy mail.TLSPolicy, roots *x509.CertPool, serverName, subject string) error {
	t.Helper()
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portStr)
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSPolicy(policy), mail.WithHELO("localhost"), mail.WithTimeout(5 * time.Second)}
	if roots != nil {
		opts = append(opts, mail.WithTLSConfig(&tls.Config{RootCAs: roots, ServerName: serverName, MinVersion: tls.VersionTLS12}))
	}
	c, err := mail.NewClient(host, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c.DialAndSend(newMsg(t, "someone@"+serverName, subject, "body of "+subject))
}

func TestListenFeedsTheSameStoreWithAndWithoutTLS(t *testing.T) {
	s := startCatcher(t, Options{})
	cert, roots := selfSigned(t, "mx.tls.test")
	plainAddr, err := s.Listen("127.0.0.1:0", ListenOptions{Host: "mx.plain.test"})
	if err != nil {
		t.Fatal(err)
	}
	tlsAddr, err := s.Listen("localhost:0", ListenOptions{Host: "mx.tls.test", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tlsAddr, "127.0.0.1:") {
		t.Errorf("localhost bound as %s, want 127.0.0.1", tlsAddr)
	}

	send(t, s, newMsg(t, "alice@example.com", "notification", "via the main listener"))
	if err := sendTo(t, plainAddr, mail.NoTLS, nil, "mx.plain.test", "plain"); err != nil {
		t.Fatalf("plain listener: %v", err)
	}
	if err := sendTo(t, plainAddr, mail.TLSMandatory, roots, "mx.plain.test", "must not arrive"); err == nil {
		t.Error("the listener without TLS accepted a sender that requires STARTTLS")
	}
	if err := sendTo(t, tlsAddr, mail.TLSMandatory, roots, "mx.tls.test", "secure"); err != nil {
		t.Fatalf("STARTTLS listener: %v", err)
	}
	// A real MX with STARTTLS still takes cleartext; the message says so.
	if err := sendTo(t, tlsAddr, mail.NoTLS, nil, "mx.tls.test", "cleartext to tls host"); err != nil {
		t.Fatalf("cleartext to the STARTTLS listener: %v", err)
	}

	got := map[string]Message{}
	for _, m := range s.Messages() {
		got[m.Subject] = m
	}
	if len(got) != 4 {
		t.Fatalf("store holds %d messages, want 4: %v", len(got), got)
	}
	for subject, want := range map[string]struct {
		by, on string
		tls    bool
	}{
		"notification":          {"localhost", s.Addr(), false},
		"plain":                 {"mx.plain.test", plainAddr, false},
		"secure":                {"mx.tls.test", tlsAddr, true},
		"cleartext to tls host": {"mx.tls.test", tlsAddr, false},
	} {
		m := got[subject]
		if m.ReceivedBy != want.by || m.ReceivedOn != want.on || (m.TLS != "") != want.tls {
			t.Errorf("%q: received by %q on %q, TLS %q; want %q on %q, TLS %v", subject, m.ReceivedBy, m.ReceivedOn, m.TLS, want.by, want.on, want.tls)
		}
	}
	if tlsInfo := got["secure"].TLS; !strings.HasPrefix(tlsInfo, "TLS 1.") {
		t.Errorf("TLS = %q, want the version and cipher suite", tlsInfo)
	}
	if strings.TrimSpace(got["secure"].Text) != "body of secure" {
		t.Errorf("TLS-delivered text = %q", got["secure"].Text)
	}

	h := s.Handler()
	list := body(t, get(t, h, "/"))
	for _, want := range []string{"mx.tls.test, TLS", "mx.plain.test, no TLS", "localhost, no TLS"} {
		if !strings.Contains(list, want) {
			t.Errorf("list page lacks %q:\n%s", want, list)
		}
	}
	page := body(t, get(t, h, "/messages/"+strconv.Itoa(got["secure"].ID)))
	if !strings.Contains(page, "mx.tls.test ("+tlsAddr+"), over TLS 1.") {
		t.Errorf("message page does not say how it arrived:\n%s", page)
	}
	page = body(t, get(t, h, "/messages/"+strconv.Itoa(got["plain"].ID)))
	if !strings.Contains(page, "in cleartext (no TLS)") {
		t.Errorf("message page does not say the mail came in cleartext:\n%s", page)
	}
}

func TestListenRefusesWhatItMustNot(t *testing.T) {
	s := startCatcher(t, Options{})
	for _, addr := range []string{":0", "0.0.0.0:0", "192.0.2.1:2525", "example.com:25", "nonsense"} {
		if _, err := s.Listen(addr, ListenOptions{}); err == nil {
			t.Errorf("Listen(%q) succeeded", addr)
		}
	}
	if _, err := s.Listen("127.0.0.1:0", ListenOptions{TLS: &tls.Config{}}); err == nil {
		t.Error("Listen accepted a TLS configuration without a certificate")
	}
}

func TestCloseStopsExtraListeners(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr, err := s.Listen("127.0.0.1:0", ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("extra listener %s still accepts connections after Close", addr)
	}
	if _, err := s.Listen("127.0.0.1:0", ListenOptions{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Listen after Close = %v, want ErrClosed", err)
	}
}
