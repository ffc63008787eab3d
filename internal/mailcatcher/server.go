// Package mailcatcher is an in-memory SMTP sink for development and tests.
//
// The portal sends notification mail ("you have a new secure message",
// password resets, invitations). In development and in tests that mail must
// never reach a real mailbox, yet we still want to exercise the real SMTP code
// path end to end. mailcatcher therefore runs a genuine SMTP listener, but only
// on a loopback address, parses what it receives and keeps the most recent
// messages in memory so tests can assert on them and developers can read them
// in a small web page (see Handler). Listen adds more listeners feeding the
// same store, with or without STARTTLS, so `make run` can play providers'
// mail servers on 127.0.0.2, 127.0.0.3, ... and show what they received.
package mailcatcher

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const (
	// DefaultCapacity is how many messages are kept when Options.Capacity is
	// not set: enough for a long dev session, small enough to bound memory.
	DefaultCapacity = 200
	// DefaultMaxMessageBytes mirrors a typical relay limit so mail that a
	// real relay would reject is also rejected here.
	DefaultMaxMessageBytes int64 = 10 << 20
)

// ErrClosed is returned by WaitFor when the server is closed while waiting.
var ErrClosed = errors.New("mailcatcher: server closed")

// errTemporary is what clients see while the server is in failing mode. It is
// a 4xx reply so well-behaved senders treat it as retryable, which is exactly
// what retry-logic tests need to provoke.
var errTemporary = &smtp.SMTPError{
	Code:         451,
	EnhancedCode: smtp.EnhancedCode{4, 3, 0},
	Message:      "mailcatcher: temporarily refusing mail (failing mode)",
}

// Options tunes a Server. The zero value is ready to use.
type Options struct {
	// Capacity is how many messages are retained; older ones are dropped
	// first. Zero or negative means DefaultCapacity.
	Capacity int
	// MaxMessageBytes is the largest message accepted (SMTP SIZE). Zero or
	// negative means DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// Logger receives connection-level events only; message contents are
	// never logged because even dev mail may hold copied patient data.
	// Nil discards everything.
	Logger *slog.Logger
}

// Server is a running loopback SMTP sink. All methods are safe for
// concurrent use.
type Server struct {
	smtp      *smtp.Server
	ln        net.Listener
	main      *listener // the listener Start opened
	log       *slog.Logger
	capacity  int
	maxBytes  int64
	failing   atomic.Bool
	serveDone chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error

	mu     sync.Mutex
	extra  []*listener // opened by Listen, closed by Close
	msgs   []Message   // oldest first, len <= capacity
	nextID int
	// arrived is closed and replaced whenever a message is stored, which
	// wakes every WaitFor caller at once without polling.
	arrived chan struct{}
}

// Start listens on addr (for example "127.0.0.1:0") with default Options.
func Start(addr string) (*Server, error) {
	return StartWithOptions(addr, Options{})
}

// StartWithOptions listens on addr, which must be a loopback address, and
// serves SMTP in the background until Close.
//
// Non-loopback addresses (including the wildcard ":2525") are refused: this
// is a dev/test tool without authentication or TLS, so accepting mail from
// the network would turn it into an open sink for anyone on the LAN.
func StartWithOptions(addr string, opts Options) (*Server, error) {
	bindAddr, err := loopbackAddr(addr)
	if err != nil {
		return nil, err
	}
	if opts.Capacity <= 0 {
		opts.Capacity = DefaultCapacity
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	ln, err := listenLoopback(bindAddr)
	if err != nil {
		return nil, err
	}

	s := &Server{
		ln:        ln,
		log:       logger,
		capacity:  opts.Capacity,
		maxBytes:  opts.MaxMessageBytes,
		serveDone: make(chan struct{}),
		closed:    make(chan struct{}),
		nextID:    1,
		arrived:   make(chan struct{}),
	}
	s.main = &listener{catcher: s, host: "localhost", addr: ln.Addr().String(), served: s.serveDone}
	s.smtp = s.newSMTPServer(s, s.main.host, nil)
	s.main.smtp = s.smtp

	go func() {
		defer close(s.serveDone)
		if err := s.smtp.Serve(ln); err != nil {
			logger.Error("mailcatcher: smtp serve stopped", "err", err)
		}
	}()
	logger.Info("mailcatcher: listening", "addr", ln.Addr().String())
	return s, nil
}

// listenLoopback binds addr (already checked by loopbackAddr) and makes
// sure the kernel really bound a loopback address.
func listenLoopback(bindAddr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", bindAddr)
	if err != nil {
		return nil, fmt.Errorf("mailcatcher: listen on %s: %w", bindAddr, err)
	}
	// Defence in depth: trust what the kernel actually bound, not our parse.
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		_ = ln.Close()
		return nil, fmt.Errorf("mailcatcher: bound to non-loopback address %s", ln.Addr())
	}
	return ln, nil
}

// newSMTPServer configures one go-smtp server for backend, greeting as
// host and offering STARTTLS when tlsConfig is set.
func (s *Server) newSMTPServer(backend smtp.Backend, host string, tlsConfig *tls.Config) *smtp.Server {
	srv := smtp.NewServer(backend)
	srv.Domain = host
	srv.MaxMessageBytes = s.maxBytes
	srv.MaxRecipients = 100
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.TLSConfig = tlsConfig
	// No TLS on loopback, so AUTH must be allowed in clear for senders that
	// are configured with credentials exactly like production.
	srv.AllowInsecureAuth = true
	srv.ErrorLog = slogAdapter{s.log}
	return srv
}

// loopbackAddr validates addr and returns the address to bind. "localhost"
// is mapped to 127.0.0.1 rather than resolved, because a misconfigured
// resolver or hosts file could otherwise point it at a public interface.
func loopbackAddr(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("mailcatcher: invalid address %q: %w", addr, err)
	}
	if host == "localhost" {
		return net.JoinHostPort("127.0.0.1", port), nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return "", fmt.Errorf("mailcatcher: refusing non-loopback address %q: dev/test mail must not be reachable from the network", addr)
	}
	return addr, nil
}

// Addr returns the host:port actually bound, useful with port 0.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, drops open connections and wakes WaitFor
// callers. It is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if err := s.smtp.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("mailcatcher: close: %w", err)
		}
		// go-smtp only closes listeners that Serve has already registered;
		// right after Start that may not have happened yet, so close ours
		// too or the Serve goroutine (and this wait) would hang.
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && s.closeErr == nil {
			s.closeErr = fmt.Errorf("mailcatcher: close listener: %w", err)
		}
		<-s.serveDone
		s.mu.Lock()
		extra := s.extra
		s.extra = nil
		s.mu.Unlock()
		for _, l := range extra {
			if err := l.close(); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// SetFailing makes the server answer RCPT and DATA with a 451 temporary
// error while on, so tests can exercise the sender's retry path.
func (s *Server) SetFailing(failing bool) { s.failing.Store(failing) }

// Messages returns a copy of the retained messages, oldest first. The copy
// is deep so callers may modify it without racing the server.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.msgs))
	for i, m := range s.msgs {
		out[i] = m.clone()
	}
	return out
}

// Len is how many messages are retained: cheaper than len(Messages())
// for a caller that only waits for a count.
func (s *Server) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

// Reset forgets all retained messages. IDs keep increasing afterwards so a
// stale link in the web UI can never show a different message.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.msgs)
	s.msgs = s.msgs[:0]
}

// message returns a copy of the message with the given ID.
func (s *Server) message(id int) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.ID == id {
			return m.clone(), true
		}
	}
	return Message{}, false
}

// WaitFor returns the first retained message (oldest first) that satisfies
// match, blocking until one arrives. Already-retained messages count, so a
// test cannot miss mail that was delivered before it started waiting; call
// Reset first to wait only for new mail. It returns ctx.Err() when ctx ends
// and ErrClosed when the server is closed.
//
// match runs without the server lock held, so it may call other methods.
func (s *Server) WaitFor(ctx context.Context, match func(Message) bool) (Message, error) {
	lastSeen := 0
	for {
		s.mu.Lock()
		var pending []Message
		for _, m := range s.msgs {
			if m.ID > lastSeen {
				pending = append(pending, m.clone())
			}
		}
		arrived := s.arrived
		s.mu.Unlock()

		for _, m := range pending {
			if match(m) {
				return m, nil
			}
			lastSeen = m.ID
		}

		select {
		case <-arrived:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("mailcatcher: wait for message: %w", ctx.Err())
		case <-s.closed:
			return Message{}, ErrClosed
		}
	}
}

// store records a parsed message, evicting the oldest beyond capacity, and
// wakes waiters.
func (s *Server) store(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m.ID = s.nextID
	s.nextID++
	s.msgs = append(s.msgs, m)
	if over := len(s.msgs) - s.capacity; over > 0 {
		s.msgs = slices.Delete(s.msgs, 0, over)
	}
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// NewSession implements smtp.Backend for the listener Start opened.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return s.main.NewSession(c)
}

// session collects one SMTP transaction's envelope.
type session struct {
	srv  *Server
	via  *listener
	conn *smtp.Conn
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms advertises PLAIN so senders configured with credentials
// (as in production) work unchanged against the catcher.
func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth accepts any credentials: there is nothing to protect on loopback and
// the credentials are deliberately not recorded or logged.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error { return nil }), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.failing.Load() {
		return errTemporary
	}
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		// Typically smtp.ErrDataTooLarge; pass SMTP errors through as-is so
		// the client gets the right reply code.
		var smtpErr *smtp.SMTPError
		if errors.As(err, &smtpErr) {
			return smtpErr
		}
		return fmt.Errorf("mailcatcher: read data: %w", err)
	}
	if s.srv.failing.Load() {
		return errTemporary
	}
	msg, err := ParseMessage(raw)
	if err != nil {
		// Reject instead of storing half a message: a test sink should make
		// malformed MIME from our own mailer fail loudly at send time.
		s.srv.log.Warn("mailcatcher: rejected unparseable message", "err", err)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	msg.ReceivedAt = time.Now()
	msg.ReceivedBy = s.via.host
	msg.ReceivedOn = s.via.addr
	if state, ok := s.conn.TLSConnectionState(); ok {
		msg.TLS = tls.VersionName(state.Version) + ", " + tls.CipherSuiteName(state.CipherSuite)
	}
	msg.To = slices.Clone(s.to)
	if msg.From == "" {
		msg.From = s.from
	}
	s.srv.store(msg)
	s.srv.log.Info("mailcatcher: message received", "listener", s.via.addr, "tls", msg.TLS != "", "recipients", len(msg.To), "bytes", len(raw))
	return nil
}

func (s *session) Reset() {
	s.from = ""
	s.to = nil
}

func (s *session) Logout() error { return nil }

// slogAdapter routes go-smtp's internal error log into slog so the catcher
// never writes to stderr behind the caller's back.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Println(v ...any)               { a.l.Warn(fmt.Sprint(v...)) }
