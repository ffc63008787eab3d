package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/mailcatcher"
)

func readDevFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, name := range []string{devCAName, devInboundName, devTLSHost.mx} {
		for _, ext := range []string{".pem", ".key"} {
			b, err := os.ReadFile(filepath.Join(dir, name+ext))
			if err != nil {
				t.Fatal(err)
			}
			out[name+ext] = b
		}
	}
	return out
}

func TestDevCertificatesAreMadeOnceAndReused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), ".dev") // does not exist yet
	if _, err := devCertificates(dir); err != nil {
		t.Fatal(err)
	}
	first := readDevFiles(t, dir)
	for name := range first {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".key") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, info.Mode().Perm())
		}
	}

	// What each certificate is for, verified against the CA file the
	// portal trusts (PORTAL_DELIVERY_CA_FILE).
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(first[devCAName+".pem"]) {
		t.Fatal("the CA file holds no certificate")
	}
	for file, names := range map[string][]string{
		devInboundName + ".pem": {"localhost", "reply.localhost", "127.0.0.1"},
		devTLSHost.mx + ".pem":  {"mx.tls-clinic.example"},
	} {
		cert, err := x509.ParseCertificate(pemBlock(t, first[file]))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
				t.Errorf("%s for %s: %v", file, name, err)
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "mx.clinic.example"}); err == nil {
			t.Errorf("%s is valid for mx.clinic.example too", file)
		}
	}

	// A later run reuses every file.
	if _, err := devCertificates(dir); err != nil {
		t.Fatal(err)
	}
	for name, b := range readDevFiles(t, dir) {
		if !bytes.Equal(b, first[name]) {
			t.Errorf("second run rewrote %s", name)
		}
	}

	// A missing certificate is issued again by the same CA.
	if err := os.Remove(filepath.Join(dir, devInboundName+".pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := devCertificates(dir); err != nil {
		t.Fatal(err)
	}
	third := readDevFiles(t, dir)
	for name, b := range third {
		if changed := !bytes.Equal(b, first[name]); changed != strings.HasPrefix(name, devInboundName) {
			t.Errorf("after removing inbound.pem: %s changed = %v", name, changed)
		}
	}

	// A broken CA makes everything new.
	if err := os.WriteFile(filepath.Join(dir, devCAName+".pem"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := devCertificates(dir); err != nil {
		t.Fatal(err)
	}
	for name, b := range readDevFiles(t, dir) {
		if bytes.Equal(b, third[name]) {
			t.Errorf("after breaking the CA, %s was kept", name)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 6 {
		t.Errorf(".dev holds %d files, want 6 (no temporary files left)", len(entries))
	}
}

func pemBlock(t *testing.T, b []byte) []byte {
	t.Helper()
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("not PEM: %q", b)
	}
	return block.Bytes
}

// TestDevWorldGivesBothDeliveryPaths runs the real delivery checks and
// transport against the world `make run` starts: the TLS demo domain gets
// the whole message over verified TLS into the catcher, the other waits in
// the portal, and every other name is refused by the dev DNS server.
func TestDevWorldGivesBothDeliveryPaths(t *testing.T) {
	dir := t.TempDir()
	mxCert, err := devCertificates(dir)
	if err != nil {
		t.Fatal(err)
	}
	catcher, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { catcher.Close() })
	server, err := startDevDNS("127.0.0.1:0", devReplyDomain)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	port, err := startDevMailHosts(catcher, "0", mxCert)
	if err != nil {
		t.Fatal(err)
	}
	smtpPort, _ := strconv.Atoi(port)

	// The DNS server: the demo zones, the reply domain, nothing else.
	for _, q := range []struct {
		name  string
		qtype uint16
		rcode int
		want  string
	}{
		{"tls-clinic.example", dns.TypeMX, dns.RcodeSuccess, "mx.tls-clinic.example."},
		{"mx.tls-clinic.example", dns.TypeA, dns.RcodeSuccess, "127.0.0.3"},
		{"clinic.example", dns.TypeMX, dns.RcodeSuccess, "mx.clinic.example."},
		{"mx.clinic.example", dns.TypeA, dns.RcodeSuccess, "127.0.0.2"},
		{"reply.localhost", dns.TypeMX, dns.RcodeSuccess, "reply.localhost."},
		{"reply.localhost", dns.TypeA, dns.RcodeSuccess, "127.0.0.1"},
		{"example.com", dns.TypeA, dns.RcodeRefused, ""},
		{"healthnet.com", dns.TypeMX, dns.RcodeRefused, ""},
		{".", dns.TypeNS, dns.RcodeRefused, ""},
	} {
		m := new(dns.Msg)
		m.SetQuestion(dns.Fqdn(q.name), q.qtype)
		m.RecursionDesired = true
		resp, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, server.Addr())
		if err != nil {
			t.Fatalf("%s %s: %v", q.name, dns.TypeToString[q.qtype], err)
		}
		got := ""
		for _, rr := range resp.Answer {
			switch rr := rr.(type) {
			case *dns.MX:
				got = rr.Mx
			case *dns.A:
				got = rr.A.String()
			}
		}
		if resp.Rcode != q.rcode || got != q.want || resp.RecursionAvailable {
			t.Errorf("%s %s: %s %q (RA %v), want %s %q", q.name, dns.TypeToString[q.qtype],
				dns.RcodeToString[resp.Rcode], got, resp.RecursionAvailable, dns.RcodeToString[q.rcode], q.want)
		}
	}

	settings := delivery.Settings{Resolver: server.Addr(), SMTPPort: smtpPort, CAFile: filepath.Join(dir, devCAName+".pem"),
		HELO: "localhost", DNSTimeout: 2 * time.Second, ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
		DataTimeout: 5 * time.Second, MTASTSTimeout: 2 * time.Second}
	checker, err := delivery.NewChecker(settings, &delivery.MemoryStore{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	tlsDecision, err := checker.Check(ctx, devTLSHost.domain)
	if err != nil {
		t.Fatal(err)
	}
	if tlsDecision.Method != delivery.MethodTLS || tlsDecision.MX != devTLSHost.mx {
		t.Errorf("%s: %s via %q (%s), want TLS via %s", devTLSHost.domain, tlsDecision.Method, tlsDecision.MX, tlsDecision.Reason, devTLSHost.mx)
	}
	for domain, reason := range map[string]string{
		devPlainHost.domain: "offered no STARTTLS",
		"example.com":       "REFUSED",
	} {
		d, err := checker.Check(ctx, domain)
		if err != nil {
			t.Fatal(err)
		}
		if d.Method != delivery.MethodPortal || !strings.Contains(d.Reason, reason) {
			t.Errorf("%s: %s (%s), want the portal because %s", domain, d.Method, d.Reason, reason)
		}
	}

	transport, err := delivery.NewTransport(settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := demoUsers[4].email
	err = transport.Deliver(ctx, tlsDecision, "secure-messaging@localhost", rcpt, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "From: secure-messaging@localhost\r\nTo: %s\r\nSubject: [SECURE] demo\r\n\r\nThe whole message.\r\n", rcpt)
		return err
	})
	if err != nil {
		t.Fatalf("deliver to %s: %v", rcpt, err)
	}
	msgs := catcher.Messages()
	if len(msgs) != 1 {
		t.Fatalf("catcher holds %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ReceivedBy != devTLSHost.mx || !strings.HasPrefix(m.ReceivedOn, devTLSHost.ip+":") || !strings.HasPrefix(m.TLS, "TLS 1.") ||
		!strings.Contains(m.Text, "The whole message.") {
		t.Errorf("caught %+v, want the whole message received over TLS by %s", m, devTLSHost.mx)
	}
}

// TestDevDefaultsLoad checks that the demo configuration passes config's
// validation once the dev certificates exist, and says TLS-first.
func TestDevDefaultsLoad(t *testing.T) {
	t.Chdir(t.TempDir())
	if _, err := devCertificates(devDir); err != nil {
		t.Fatal(err)
	}
	if err := ensureDevKeyring(devDefaults["PORTAL_KEYRING"]); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(func(k string) string {
		if k == "PORTAL_DATABASE_URL" {
			return "postgres://localhost/portal_dev"
		}
		return devDefaults[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	d := cfg.Delivery
	if !d.TLSFirst() || d.Resolver != devDNSAddr || d.SMTPPort != 2525 || d.InboundAddr != devInboundAddr ||
		d.ReplyDomain != devReplyDomain || d.HELO != "localhost" {
		t.Errorf("delivery settings %+v", d)
	}
	for _, addr := range []string{d.Resolver, d.InboundAddr, devSMTPAddr, devMailAddr} {
		host, _, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			t.Errorf("%s is not a loopback address", addr)
		}
	}
}

func TestDevBannerExplainsBothPathsAndTheEmailedReply(t *testing.T) {
	text := devBannerDelivery(true, devInboundAddr, devReplyDomain, nil)
	for _, want := range []string{
		"dr.chen@tls-clinic.example", "you@clinic.example", "no STARTTLS",
		"swaks --server 127.0.0.1:2526 --tls --from dr.chen@tls-clinic.example", "reply+...@reply.localhost",
		"Reply-To", "apt-get install swaks",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	for name, text := range map[string]string{
		"portal-only":   devBannerDelivery(false, devInboundAddr, devReplyDomain, nil),
		"hosts missing": devBannerDelivery(true, devInboundAddr, devReplyDomain, errors.New("bind")),
	} {
		if strings.Contains(text, "swaks") || !strings.Contains(text, "waits in the portal") {
			t.Errorf("%s: banner says\n%s", name, text)
		}
	}
}
