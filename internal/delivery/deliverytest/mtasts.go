package deliverytest

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// MTASTSServer serves MTA-STS policies over HTTPS for any number of test
// domains, at https://mta-sts.<domain>:<Port>/.well-known/mta-sts.txt,
// with a certificate from the test CA for whichever name is asked (SNI).
type MTASTSServer struct {
	IP   string
	Port int

	ca  *CA
	srv *http.Server

	mu       sync.Mutex
	policies map[string]string
	failing  map[string]bool
	fetches  map[string]int
	certs    map[string]*tls.Certificate
}

// StartMTASTS serves on ip (a loopback address) until the test ends.
func StartMTASTS(t testing.TB, ca *CA, ip string) *MTASTSServer {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("deliverytest: start MTA-STS server: %v", err)
	}
	s := &MTASTSServer{
		IP: ip, Port: ln.Addr().(*net.TCPAddr).Port, ca: ca,
		policies: map[string]string{}, failing: map[string]bool{}, fetches: map[string]int{}, certs: map[string]*tls.Certificate{},
	}
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		TLSConfig:         &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.ServeTLS(ln, "", "")
	}()
	t.Cleanup(func() {
		_ = s.srv.Close()
		<-done
	})
	return s
}

// SetPolicy serves body as domain's policy.
func (s *MTASTSServer) SetPolicy(domain, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.policies[domain] = body
}

// SetFailing makes fetches of domain's policy answer 503 while on, as
// when an attacker blocks the policy host.
func (s *MTASTSServer) SetFailing(domain string, failing bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing[domain] = failing
}

// Fetches counts the requests for domain's policy.
func (s *MTASTSServer) Fetches(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[domain]
}

func (s *MTASTSServer) serve(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	domain, ok := strings.CutPrefix(strings.ToLower(host), "mta-sts.")
	if !ok || r.URL.Path != "/.well-known/mta-sts.txt" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.fetches[domain]++
	body, known := s.policies[domain]
	failing := s.failing[domain]
	s.mu.Unlock()
	switch {
	case failing:
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	case !known:
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	}
}

func (s *MTASTSServer) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := strings.ToLower(hello.ServerName)
	if !strings.HasPrefix(name, "mta-sts.") {
		return nil, errors.New("deliverytest: not an MTA-STS host name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.certs[name]; ok {
		return c, nil
	}
	c, err := s.ca.issue(time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour), name)
	if err != nil {
		return nil, err
	}
	s.certs[name] = &c
	return &c, nil
}
