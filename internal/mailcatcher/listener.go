package mailcatcher

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/emersion/go-smtp"
)

// ListenOptions configures an extra SMTP listener (see Server.Listen).
type ListenOptions struct {
	// Host is the name the listener answers to: its SMTP greeting, and the
	// ReceivedBy of every message it takes (say "mx.tls-clinic.example").
	// Empty means its address.
	Host string
	// TLS, when not nil, makes the listener offer STARTTLS with this
	// configuration (it needs Certificates). Senders may still send in
	// cleartext, as with a real MX; Message.TLS says which they did.
	TLS *tls.Config
}

// listener is one SMTP listener feeding a Server's store.
type listener struct {
	catcher *Server
	host    string
	addr    string
	smtp    *smtp.Server
	ln      net.Listener
	served  chan struct{}
}

// Listen opens one more SMTP listener on addr, which must be a loopback
// address like Start's, and keeps what it receives in this server's store:
// one page and one WaitFor see the mail of every listener. Development uses
// it to play several mail hosts on 127.0.0.2, 127.0.0.3, ... sharing a
// port, some with STARTTLS and some without. It returns the address bound;
// Close stops it with the rest.
func (s *Server) Listen(addr string, opts ListenOptions) (string, error) {
	bindAddr, err := loopbackAddr(addr)
	if err != nil {
		return "", err
	}
	if opts.TLS != nil && len(opts.TLS.Certificates) == 0 && opts.TLS.GetCertificate == nil {
		return "", fmt.Errorf("mailcatcher: listener on %s: TLS configuration without a certificate", addr)
	}
	ln, err := listenLoopback(bindAddr)
	if err != nil {
		return "", err
	}
	l := &listener{catcher: s, host: opts.Host, addr: ln.Addr().String(), ln: ln, served: make(chan struct{})}
	if l.host == "" {
		l.host = l.addr
	}
	var tlsConfig *tls.Config
	if opts.TLS != nil {
		tlsConfig = opts.TLS.Clone()
		if tlsConfig.MinVersion < tls.VersionTLS12 {
			tlsConfig.MinVersion = tls.VersionTLS12
		}
	}
	l.smtp = s.newSMTPServer(l, l.host, tlsConfig)

	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		_ = ln.Close()
		return "", ErrClosed
	default:
	}
	s.extra = append(s.extra, l)
	s.mu.Unlock()

	go func() {
		defer close(l.served)
		if err := l.smtp.Serve(ln); err != nil {
			s.log.Error("mailcatcher: smtp serve stopped", "addr", l.addr, "err", err)
		}
	}()
	s.log.Info("mailcatcher: listening", "addr", l.addr, "host", l.host, "starttls", tlsConfig != nil)
	return l.addr, nil
}

// NewSession implements smtp.Backend.
func (l *listener) NewSession(c *smtp.Conn) (smtp.Session, error) {
	// The listener is loopback-only; this guards against a future change
	// (say, someone passing in a different listener) silently exposing it.
	if tcp, ok := c.Conn().RemoteAddr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		return nil, &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "mailcatcher: loopback clients only"}
	}
	return &session{srv: l.catcher, via: l, conn: c}, nil
}

// close stops a listener opened by Listen.
func (l *listener) close() error {
	var closeErr error
	if err := l.smtp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		closeErr = fmt.Errorf("mailcatcher: close %s: %w", l.addr, err)
	}
	// As in Close: Serve may not have registered the listener yet.
	if err := l.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && closeErr == nil {
		closeErr = fmt.Errorf("mailcatcher: close listener %s: %w", l.addr, err)
	}
	<-l.served
	return closeErr
}
