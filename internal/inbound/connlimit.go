package inbound

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// connLimit is a listener that admits at most max connections from one
// address at a time, so one sender cannot take every session slot, and that
// can cut every connection it admitted when a graceful stop runs out of
// time.
type connLimit struct {
	net.Listener
	max      int
	greeting string
	log      *slog.Logger

	mu    sync.Mutex
	perIP map[string]int
	conns map[*limitedConn]struct{}
}

func newConnLimit(ln net.Listener, max int, hostname string, log *slog.Logger) *connLimit {
	// RFC 5321 §3.8: a server that cannot serve answers 421 and closes.
	greeting := fmt.Sprintf("421 4.7.0 %s Too many connections from your address, try again later\r\n", hostname)
	return &connLimit{Listener: ln, max: max, greeting: greeting, log: log,
		perIP: map[string]int{}, conns: map[*limitedConn]struct{}{}}
}

func (l *connLimit) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		if lc := l.admit(c, ip); lc != nil {
			return lc, nil
		}
		l.log.Warn("inbound: refused connection over the per-address limit", "remote_ip", ip, "limit", l.max)
		// A short deadline: a peer that does not read must not stall
		// Accept.
		c.SetWriteDeadline(time.Now().Add(time.Second))
		c.Write([]byte(l.greeting))
		c.Close()
	}
}

func (l *connLimit) admit(c net.Conn, ip string) *limitedConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP[ip] >= l.max {
		return nil
	}
	l.perIP[ip]++
	lc := &limitedConn{Conn: c, owner: l, ip: ip}
	l.conns[lc] = struct{}{}
	return lc
}

func (l *connLimit) release(lc *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, lc)
	if l.perIP[lc.ip]--; l.perIP[lc.ip] <= 0 {
		delete(l.perIP, lc.ip)
	}
}

// open counts the connections admitted and not yet closed.
func (l *connLimit) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// closeAll cuts every open connection.
func (l *connLimit) closeAll() {
	l.mu.Lock()
	conns := make([]*limitedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// limitedConn gives its slot back when closed, once, however many times
// (go-smtp closes it, and STARTTLS's wrapper closes it again).
type limitedConn struct {
	net.Conn
	owner *connLimit
	ip    string
	once  sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.owner.release(c) })
	return err
}
