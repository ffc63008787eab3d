// Package localdns is a small authoritative DNS server for tests and for
// `make run`.
//
// TLS-first delivery looks up MX, A, TXT (_mta-sts) and TLSA records. In
// development and CI those lookups must never reach a real domain, so the
// portal is pointed (PORTAL_DNS_RESOLVER) at this server on loopback. It
// answers only the zones it was given, REFUSED for every other name, and
// never recurses: a test that forgot a record fails loudly instead of
// quietly asking the Internet.
package localdns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// ttl is short so a developer who edits a record sees it at once even
// through a caching resolver.
const ttl = 60

// Server is an authoritative DNS server over UDP and TCP on one loopback
// address. Records may be added before or after Start; all methods are safe
// for concurrent use.
type Server struct {
	addr string

	mu      sync.RWMutex
	zones   map[string]bool // zone apex (FQDN, lower case) -> answers carry the AD bit
	records map[string][]dns.RR

	udp, tcp  *dns.Server
	served    sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New returns a server that will listen on addr ("127.0.0.1:0" picks a free
// port) once started.
func New(addr string) *Server {
	return &Server{addr: addr, zones: map[string]bool{}, records: map[string][]dns.RR{}}
}

// Start binds UDP and TCP on the same loopback address and port and serves
// in the background until Close.
func (s *Server) Start() error {
	host, port, err := net.SplitHostPort(s.addr)
	if err != nil {
		return fmt.Errorf("localdns: address %q: %w", s.addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		// A resolver that answers made-up zones must not be reachable from
		// the network, where it could mislead someone else's mail.
		return fmt.Errorf("localdns: refusing non-loopback address %q", s.addr)
	}
	pc, ln, err := listenBoth(host, port)
	if err != nil {
		return err
	}
	s.addr = pc.LocalAddr().String()
	s.udp = &dns.Server{PacketConn: pc, Handler: s}
	s.tcp = &dns.Server{Listener: ln, Handler: s}
	for _, srv := range []*dns.Server{s.udp, s.tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		s.served.Add(1)
		go func() {
			defer s.served.Done()
			_ = srv.ActivateAndServe() // returns when Close shuts it down
		}()
		<-started
	}
	return nil
}

// listenBoth binds UDP and then TCP on the same port. With port 0 the UDP
// port the kernel picks may be taken for TCP, so it tries again a few times.
func listenBoth(host, port string) (net.PacketConn, net.Listener, error) {
	var lastErr error
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
		if err != nil {
			return nil, nil, fmt.Errorf("localdns: listen udp: %w", err)
		}
		_, bound, _ := net.SplitHostPort(pc.LocalAddr().String())
		ln, err := net.Listen("tcp", net.JoinHostPort(host, bound))
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		lastErr = err
		if port != "0" {
			break
		}
	}
	return nil, nil, fmt.Errorf("localdns: listen tcp: %w", lastErr)
}

// Addr is the host:port the server answers on (after Start).
func (s *Server) Addr() string { return s.addr }

// Close stops both listeners and waits for them. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range []*dns.Server{s.udp, s.tcp} {
			if srv == nil {
				continue
			}
			if err := srv.ShutdownContext(ctx); err != nil {
				s.closeErr = errors.Join(s.closeErr, fmt.Errorf("localdns: close: %w", err))
			}
		}
		s.served.Wait()
	})
	return s.closeErr
}
