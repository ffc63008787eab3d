package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/localdns"
	"github.com/healthnet/secureportal/internal/mailcatcher"
)

// The local mail world of `make run` (issue 11): the portal delivers
// TLS-first, yet every name it looks up is answered by a DNS server of its
// own on loopback and every host it connects to is the mail catcher on a
// loopback address. Nothing here looks up or reaches a real domain.
const (
	// devDir holds the dev CA and certificates (git-ignored, like the
	// keyring), made on the first run and reused after.
	devDir = ".dev"
	// devDNSAddr is the dev DNS server: authoritative for the demo
	// domains only, REFUSED for every other name, no recursion. 1053 as
	// 1025 is to 25: port 53 needs root, 5353 is mDNS.
	devDNSAddr = "127.0.0.1:1053"
	// devMXPort is the demo mail hosts' port (PORTAL_DELIVERY_SMTP_PORT):
	// 25 needs root.
	devMXPort = "2525"
	// devInboundAddr is the portal's own SMTP listener for emailed replies
	// (PORTAL_SMTP_INBOUND_ADDR); devReplyDomain's MX points at it.
	devInboundAddr = "127.0.0.1:2526"
	devReplyDomain = "reply.localhost"
	// The dev CA (trusted by the portal through PORTAL_DELIVERY_CA_FILE)
	// and the certificates it issues, as devDir/<name>.pem and .key.
	devCAName      = "dev-ca"
	devInboundName = "inbound"
)

// devMailHost is a demo provider domain and its mail host, played by the
// mail catcher.
type devMailHost struct {
	domain, mx, ip string
	starttls       bool
}

var (
	// devPlainHost never offers STARTTLS: mail for it waits in the portal.
	devPlainHost = devMailHost{domain: "clinic.example", mx: "mx.clinic.example", ip: "127.0.0.2"}
	// devTLSHost offers STARTTLS with a certificate of the dev CA: mail for
	// it is delivered whole.
	devTLSHost   = devMailHost{domain: "tls-clinic.example", mx: "mx.tls-clinic.example", ip: "127.0.0.3", starttls: true}
	devMailHosts = []devMailHost{devPlainHost, devTLSHost}
)

// devCertificates makes the dev CA and its two certificates in dir on the
// first run and reuses them after (each is made again when missing,
// unreadable, not issued by the CA, for other names or within a month of
// expiry). It returns the certificate of the TLS demo mail host; the
// portal reads the others from their files (devDefaults).
func devCertificates(dir string) (tls.Certificate, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("dev certificates: %w", err)
	}
	now := time.Now()
	ca, err := devLoadOrMakeCA(dir, now)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dev certificates: %w", err)
	}
	if _, err := devLoadOrIssue(dir, devInboundName, ca, now, []string{"localhost", devReplyDomain}, net.IPv4(127, 0, 0, 1)); err != nil {
		return tls.Certificate{}, fmt.Errorf("dev certificates: %w", err)
	}
	mx, err := devLoadOrIssue(dir, devTLSHost.mx, ca, now, []string{devTLSHost.mx})
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("dev certificates: %w", err)
	}
	return mx, nil
}

// devRenewBefore is how long before expiry a dev certificate is made again.
const devRenewBefore = 30 * 24 * time.Hour

func devPaths(dir, name string) (certFile, keyFile string) {
	return filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
}

func devLoadOrMakeCA(dir string, now time.Time) (tls.Certificate, error) {
	certFile, keyFile := devPaths(dir, devCAName)
	if ca, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && ca.Leaf.IsCA && now.Add(devRenewBefore).Before(ca.Leaf.NotAfter) {
		return ca, nil
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Secure Portal Development CA (make run only)"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	return devWriteCertificate(certFile, keyFile, tmpl, nil)
}

// devLoadOrIssue returns the certificate devDir/name.pem when ca issued it
// for exactly names and ips and it is not about to expire; otherwise it
// issues a new one, valid for a year.
func devLoadOrIssue(dir, name string, ca tls.Certificate, now time.Time, names []string, ips ...net.IP) (tls.Certificate, error) {
	certFile, keyFile := devPaths(dir, name)
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil && devIssuedFor(cert.Leaf, ca.Leaf, now, names, ips) {
		return cert, nil
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: names[0]},
		DNSNames:    names,
		IPAddresses: ips,
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(1, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return devWriteCertificate(certFile, keyFile, tmpl, &ca)
}

func devIssuedFor(leaf, ca *x509.Certificate, now time.Time, names []string, ips []net.IP) bool {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: names[0], CurrentTime: now}); err != nil {
		return false
	}
	return slices.Equal(leaf.DNSNames, names) &&
		slices.EqualFunc(leaf.IPAddresses, ips, net.IP.Equal) &&
		now.Add(devRenewBefore).Before(leaf.NotAfter)
}

// devWriteCertificate makes a P-256 key and a certificate from tmpl,
// signed by parent (nil: self-signed), and writes both: the key 0600.
func devWriteCertificate(certFile, keyFile string, tmpl *x509.Certificate, parent *tls.Certificate) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl.SerialNumber = serial
	issuer, signer := tmpl, any(key)
	if parent != nil {
		issuer, signer = parent.Leaf, parent.PrivateKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, &key.PublicKey, signer)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("issue %s: %w", certFile, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := devWriteFile(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := devWriteFile(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// devWriteFile replaces path with data at once, so an interrupted first
// run never leaves half a key behind.
func devWriteFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after a successful rename: nothing there
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// startDevDNS starts the dev DNS server on addr: MX and A records of the
// demo mail hosts and of the reply domain (whose MX is the portal's own
// listener on 127.0.0.1), REFUSED for every other name.
func startDevDNS(addr, replyDomain string) (*localdns.Server, error) {
	dns := localdns.New(addr)
	for _, h := range devMailHosts {
		if err := errors.Join(dns.AddMX(h.domain, h.mx, 10), dns.AddA(h.mx, h.ip)); err != nil {
			return nil, err
		}
	}
	if replyDomain != "" {
		if err := errors.Join(dns.AddMX(replyDomain, replyDomain, 10), dns.AddA(replyDomain, "127.0.0.1")); err != nil {
			return nil, err
		}
	}
	if err := dns.Start(); err != nil {
		return nil, fmt.Errorf("dev DNS server on %s: %w", addr, err)
	}
	return dns, nil
}

// startDevMailHosts makes the catcher also listen as the demo mail hosts,
// on their loopback addresses and one shared port (with port "0" the first
// picks it), so what the portal delivers to them lands on the same page as
// its notifications. It returns the port.
func startDevMailHosts(catcher *mailcatcher.Server, port string, mxCert tls.Certificate) (string, error) {
	for _, h := range devMailHosts {
		opts := mailcatcher.ListenOptions{Host: h.mx}
		if h.starttls {
			opts.TLS = &tls.Config{Certificates: []tls.Certificate{mxCert}, MinVersion: tls.VersionTLS12}
		}
		addr, err := catcher.Listen(net.JoinHostPort(h.ip, port), opts)
		if err != nil {
			return "", fmt.Errorf("demo mail host %s: %w", h.mx, err)
		}
		_, port, _ = net.SplitHostPort(addr)
	}
	return port, nil
}

// devBannerDelivery is the banner's part about delivery: both paths and a
// reply by email, as far as the configuration allows them.
func devBannerDelivery(tlsFirst bool, inboundAddr, replyDomain string, hostsErr error) string {
	staff, tlsProvider := demoUsers[1].email, demoUsers[4].email
	switch {
	case !tlsFirst:
		return "    Delivery is portal-only: every message waits in the portal and the\n" +
			"    mail catcher shows the notification.\n"
	case hostsErr != nil:
		return "    Delivery is TLS-first, but the demo mail hosts did not start (see\n" +
			"    the warning above): every message waits in the portal.\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, `    Delivery is TLS-first. Sign in as %s and send
    a secure message to
      %-26s  verified TLS: the whole message arrives in
      %-26s  the mail catcher
      %-26s  no STARTTLS: the message waits in the portal;
      %-26s  the catcher shows the notification (with a
      %-26s  registration link for a new address)
`, staff, tlsProvider, "", "you@"+devPlainHost.domain, "", "")
	if inboundAddr != "" {
		fmt.Fprintf(&b, `
    Reply by email: in the catcher, open the mail received by
    %s and copy its Reply-To address; then
    (apt-get install swaks if missing):
      swaks --server %s --tls --from %s \
        --to 'reply+...@%s' --body 'Thanks, received.'
    The reply appears in the staff thread.
`, devTLSHost.mx, inboundAddr, tlsProvider, replyDomain)
	}
	return b.String()
}
