package deliverytest

import (
	"bytes"
	"io"
	"net"

	"github.com/emersion/go-smtp"
)

// backend makes one session per SMTP session; go-smtp starts a new one
// after STARTTLS, so each knows whether it runs inside TLS.
type backend struct{ p *Peer }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	_, isTLS := c.TLSConnectionState()
	return &session{p: b.p, tls: isTLS, index: -1}, nil
}

type session struct {
	p     *Peer
	tls   bool
	index int // of the current transaction in p.envelopes, -1 for none
}

// Mail records the transaction at once, so a test sees even one that
// never reached DATA.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.p.record(func(p *Peer) {
		p.envelopes = append(p.envelopes, Envelope{From: from, TLS: s.tls})
		s.index = len(p.envelopes) - 1
	})
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.index < 0 {
		return nil
	}
	s.p.record(func(p *Peer) { p.envelopes[s.index].To = append(p.envelopes[s.index].To, to) })
	if s.p.cfg.RcptError != nil {
		return s.p.cfg.RcptError
	}
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.index >= 0 {
		s.p.record(func(p *Peer) { p.envelopes[s.index].Data = raw })
	}
	return nil
}

func (s *session) Reset()        { s.index = -1 }
func (s *session) Logout() error { return nil }

// recordingListener hands out connections that copy what clients send
// into the peer's wire log, and in DropAfterSTARTTLS mode hang up right
// after agreeing to STARTTLS.
type recordingListener struct {
	net.Listener
	peer *Peer
}

func (l recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &recordingConn{Conn: c, peer: l.peer}, nil
}

type recordingConn struct {
	net.Conn
	peer *Peer
}

func (c *recordingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.peer.record(func(p *Peer) { p.wire.Write(b[:n]) })
	}
	return n, err
}

func (c *recordingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if c.peer.cfg.Mode == DropAfterSTARTTLS && bytes.Contains(b, []byte("Ready to start TLS")) {
		_ = c.Conn.Close()
	}
	return n, err
}
