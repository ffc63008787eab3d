// Package inbound takes providers' emailed replies back into their threads
// (DESIGN.md §1a journey 9, §7). A provider whose mail server takes verified
// TLS gets the whole message in their inbox with a Reply-To of
// reply+<token>@<reply domain>; when they answer, their mail server delivers
// the reply here, over SMTP with STARTTLS, and it is stored encrypted in the
// thread exactly as a reply from the web page would be.
//
// The token in the address names one thread; the envelope sender must be
// that thread's provider. Everything else is refused with an SMTP error and
// stores nothing.
package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Settings configure the listener. Zero values take the defaults below.
type Settings struct {
	// Domain is the reply domain: only reply+<token>@Domain is accepted.
	Domain string
	// Hostname names this server in its greeting; default Domain.
	Hostname string
	// TLS is what STARTTLS offers. Required: mail is refused until the
	// sender has started TLS.
	TLS *tls.Config
	// MaxMessageBytes bounds a whole message as sent, encoded (default 25
	// MiB). It is announced in EHLO as SIZE (RFC 1870).
	MaxMessageBytes int64
	// MaxRecipients per message (default 1: a reply goes to one thread).
	MaxRecipients int
	// MaxFiles and MaxFileBytes refuse attachments before they are spooled
	// (defaults 10 and MaxMessageBytes); the store applies its own limits
	// again when it keeps them. Set them to the web upload limits.
	MaxFiles     int
	MaxFileBytes int64
	// ReadTimeout is how long the server waits for each command and, during
	// DATA, for each read (default 2 min); WriteTimeout for each answer
	// (default 1 min).
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// MaxConnsPerIP bounds simultaneous connections from one address
	// (default 4); more are answered 421 and closed.
	MaxConnsPerIP int
	// Resolver is the host:port of the DNS server asked for DKIM keys. Empty:
	// signatures are not checked and the result is DKIMNone.
	Resolver string
	// SpoolDir is where attachments wait, encrypted, until the whole
	// message has arrived; "" is the system's temporary directory.
	SpoolDir string
	// ShutdownGrace is how long Serve waits, once its context ends, for
	// open sessions to finish before it closes them (default 30 s).
	ShutdownGrace time.Duration
}

func (s Settings) withDefaults() Settings {
	if s.Hostname == "" {
		s.Hostname = s.Domain
	}
	if s.MaxMessageBytes <= 0 {
		s.MaxMessageBytes = 25 << 20
	}
	if s.MaxRecipients <= 0 {
		s.MaxRecipients = 1
	}
	if s.MaxFiles <= 0 {
		s.MaxFiles = 10
	}
	if s.MaxFileBytes <= 0 {
		s.MaxFileBytes = s.MaxMessageBytes
	}
	if s.ReadTimeout <= 0 {
		s.ReadTimeout = 2 * time.Minute
	}
	if s.WriteTimeout <= 0 {
		s.WriteTimeout = time.Minute
	}
	if s.MaxConnsPerIP <= 0 {
		s.MaxConnsPerIP = 4
	}
	if s.ShutdownGrace <= 0 {
		s.ShutdownGrace = 30 * time.Second
	}
	return s
}

// Target is what a reply token stands for: a thread and its provider.
type Target struct {
	ThreadID      string
	ProviderID    int64
	ProviderEmail string
}

// Targets resolves the token of a reply address. An unknown, revoked or
// dead token is messaging.ErrNotFound.
type Targets interface {
	ReplyTarget(ctx context.Context, token string) (Target, error)
}

// Replier stores a reply in a thread; messaging.Service is one.
type Replier interface {
	Reply(ctx context.Context, v messaging.Viewer, threadID, body string, files messaging.Uploads) error
}

// DKIMResult is the outcome of checking a reply's DKIM signatures (RFC
// 6376) against the envelope sender's domain.
type DKIMResult string

const (
	// DKIMPass: a signature of the sender's domain (or a parent of it)
	// verified.
	DKIMPass DKIMResult = "pass"
	// DKIMFail: the message was signed, but no signature of the sender's
	// domain verified.
	DKIMFail DKIMResult = "fail"
	// DKIMNone: no signature, or no resolver configured to check one.
	DKIMNone DKIMResult = "none"
)

// Received describes a reply that was stored, for the caller to keep with
// the message (the messaging store has no place for it yet).
type Received struct {
	ThreadID    string
	ProviderID  int64
	RemoteIP    string
	DKIM        DKIMResult
	Attachments int
}

// Server is the inbound SMTP listener.
type Server struct {
	settings Settings
	targets  Targets
	replier  Replier
	log      *slog.Logger

	// OnReceived, when set before Serve, is called after each stored reply,
	// before the sender is answered: keep it short.
	OnReceived func(Received)

	// inflight counts DATA commands being handled, so a stop can wait for
	// them to end; once stopping is set no new one begins.
	mu       sync.Mutex
	stopping bool
	inflight sync.WaitGroup
}

// New returns a server that stores replies for the reply addresses that
// targets knows, through replier.
func New(s Settings, targets Targets, replier Replier, log *slog.Logger) *Server {
	return &Server{settings: s.withDefaults(), targets: targets, replier: replier, log: log}
}

// Serve answers SMTP on ln until ctx ends, then stops taking connections,
// lets open sessions finish for ShutdownGrace, closes the rest and returns
// nil once every reply in progress has ended.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.settings.TLS == nil {
		return errors.New("inbound: serve: no TLS configuration, and replies are refused without STARTTLS")
	}
	if s.settings.Domain == "" {
		return errors.New("inbound: serve: no reply domain")
	}
	limited := newConnLimit(ln, s.settings.MaxConnsPerIP, s.settings.Hostname, s.log)
	// Replies in progress outlive ctx (they end within the grace period or
	// when their connection is cut), so sessions get a context that is
	// never cancelled by it.
	srv := s.smtpServer(context.WithoutCancel(ctx))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(limited) }()
	select {
	case err := <-served:
		srv.Close()
		return fmt.Errorf("inbound: serve: %w", err)
	case <-ctx.Done():
	}
	grace, cancel := context.WithTimeout(context.Background(), s.settings.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(grace); errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("inbound: closing sessions still open after the grace period", "open_connections", limited.open())
		limited.closeAll()
	}
	<-served
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	s.inflight.Wait()
	return nil
}

// begin counts a DATA command in, unless the server is stopping.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.inflight.Add(1)
	return true
}

func (s *Server) smtpServer(ctx context.Context) *smtp.Server {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, ctx: ctx, conn: c, ip: hostOf(c.Conn().RemoteAddr())}, nil
	}))
	srv.Domain = s.settings.Hostname
	srv.TLSConfig = tlsConfig(s.settings.TLS)
	srv.MaxMessageBytes = s.settings.MaxMessageBytes
	srv.MaxRecipients = s.settings.MaxRecipients
	srv.ReadTimeout = s.settings.ReadTimeout
	srv.WriteTimeout = s.settings.WriteTimeout
	srv.ErrorLog = errorLog{s.log}
	return srv
}

// tlsConfig is the configured one with TLS 1.2 at least: RFC 8996 retired
// 1.0 and 1.1, and a reply carries PHI.
func tlsConfig(c *tls.Config) *tls.Config {
	c = c.Clone()
	c.MinVersion = max(c.MinVersion, tls.VersionTLS12)
	return c
}

// errorLog sends go-smtp's own reports (broken connections, failed
// handshakes) to slog; they name addresses, never message content.
type errorLog struct{ log *slog.Logger }

func (l errorLog) Printf(format string, v ...any) {
	l.log.Warn("inbound: smtp", "detail", fmt.Sprintf(format, v...))
}

func (l errorLog) Println(v ...any) { l.log.Warn("inbound: smtp", "detail", fmt.Sprint(v...)) }

// hostOf is the IP of a connection's remote address.
func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
