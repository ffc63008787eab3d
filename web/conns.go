package web

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connLimiter is a listener that caps open connections: in total, so that
// the process sheds load before it runs out of file descriptors, and per
// client address, so that one client cannot take them all. A connection
// over the per-address cap is closed at once; one over the total cap is
// answered 503 with Retry-After (on plain HTTP; a TLS client gets the close,
// since answering would cost the handshake being shed) and closed. Before
// refusing, an idle keep-alive connection that would free the slot is
// closed instead: a browser opens a new one without a word, as it does after
// IdleTimeout.
//
// Connections from trusted proxies are not counted per address: behind a
// balancer every client has the balancer's address. They count in the total.
type connLimiter struct {
	net.Listener
	maxTotal int
	maxPerIP int // 0: no per-address cap
	trusted  []netip.Prefix
	tls      bool // the server speaks TLS on these connections
	log      *slog.Logger
	metrics  connMetrics
	now      func() time.Time

	mu      sync.Mutex
	total   int
	perIP   map[netip.Addr]int
	idle    map[*limitedConn]struct{}
	refused map[string]int // since the last log line, by reason
	logged  time.Time

	// lingering bounds how many refused connections at once are held open
	// to deliver the 503 before closing (see shed).
	lingering chan struct{}
}

const (
	// busyRetryAfter is the Retry-After, in seconds, of the 503 answered
	// over the total cap.
	busyRetryAfter = 5
	// shedLinger is how long a refused connection is kept to deliver the
	// 503 and read what the client had already sent (closing with unread
	// data resets the connection, and the reset can overtake the answer).
	shedLinger = 500 * time.Millisecond
	// refusalLogEvery spaces the log lines about refused connections: a
	// flood must not become a flood of log lines.
	refusalLogEvery = 10 * time.Second
)

var busyResponse = func() string {
	body := "The portal is busy. Please try again in a moment.\n"
	return "HTTP/1.1 503 Service Unavailable\r\n" +
		"Retry-After: " + strconv.Itoa(busyRetryAfter) + "\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Connection: close\r\n\r\n" + body
}()

// fdReserve is what the process keeps for itself besides client
// connections: the database pool, mail, logs, listeners, key files.
const fdReserve = 256

// fdBudgetOf is how many client connections an open-file limit can hold:
// each may hold two descriptors (its socket, and an upload's spool file)
// after the reserve.
func fdBudgetOf(limit uint64) int {
	if limit < 4*fdReserve {
		return max(int(limit/4), 1)
	}
	return int(min((limit-fdReserve)/2, math.MaxInt32))
}

// limitConns wraps ln with the configured connection caps. The total cap is
// lowered to what the process's open-file limit can hold (see fdBudget).
func (s *Server) limitConns(ln net.Listener) *connLimiter {
	lim := s.cfg.Limits
	total := lim.MaxConns
	if budget := fdBudget(); budget > 0 && (total <= 0 || budget < total) {
		s.log.Warn("PORTAL_MAX_CONNS lowered to what the open-file limit allows (raise `ulimit -n` to allow more)",
			"max_conns", lim.MaxConns, "lowered_to", budget)
		total = budget
	}
	return &connLimiter{
		Listener:  ln,
		maxTotal:  total,
		maxPerIP:  lim.MaxConnsPerIP,
		trusted:   s.cfg.TrustedProxies,
		tls:       s.cfg.ServesTLS(),
		log:       s.log,
		metrics:   s.connMetrics(),
		now:       time.Now,
		perIP:     map[netip.Addr]int{},
		idle:      map[*limitedConn]struct{}{},
		refused:   map[string]int{},
		lingering: make(chan struct{}, 64),
	}
}

// Accept returns the next connection within the caps; connections over
// them are refused here and never reach the server.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
	}
}

// admit counts c in, making room by closing an idle connection if need be,
// or refuses it (nil).
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	ip := remoteIP(c)
	lc := &limitedConn{Conn: c, l: l, key: clientKey(ip), perIP: l.maxPerIP > 0 && !isTrusted(ip, l.trusted)}
	var victims []*limitedConn
	reason := ""
	l.mu.Lock()
	if lc.perIP && l.perIP[lc.key] >= l.maxPerIP {
		if v := l.idleOf(lc.key); v != nil {
			victims = append(victims, v)
			l.releaseLocked(v)
		} else {
			reason = "per_ip"
		}
	}
	if reason == "" && l.maxTotal > 0 && l.total >= l.maxTotal {
		if v := l.idleOf(netip.Addr{}); v != nil {
			victims = append(victims, v)
			l.releaseLocked(v)
		} else {
			reason = "total"
		}
	}
	if reason == "" {
		l.total++
		if lc.perIP {
			l.perIP[lc.key]++
		}
	}
	logNow := reason != "" && l.noteRefusalLocked(reason)
	refused := l.refused
	if logNow {
		l.refused = map[string]int{}
	}
	l.mu.Unlock()

	for _, v := range victims {
		v.Conn.Close()
		l.metrics.refused.WithLabelValues("idle_closed").Inc()
	}
	if reason == "" {
		l.metrics.open.Inc()
		return lc
	}
	l.metrics.refused.WithLabelValues(reason).Inc()
	if logNow {
		l.log.Warn("connections refused over the caps", "per_ip", refused["per_ip"], "total", refused["total"],
			"client_ip", ip.String(), "max_conns", l.maxTotal, "max_conns_per_ip", l.maxPerIP)
	}
	if reason == "total" {
		l.shed(c)
	} else {
		c.Close()
	}
	return nil
}

// noteRefusalLocked counts a refusal and reports whether it is time for a
// log line.
func (l *connLimiter) noteRefusalLocked(reason string) bool {
	l.refused[reason]++
	now := l.now()
	if now.Sub(l.logged) < refusalLogEvery {
		return false
	}
	l.logged = now
	return true
}

// idleOf returns an idle connection of key, or of anyone for the zero key.
func (l *connLimiter) idleOf(key netip.Addr) *limitedConn {
	for c := range l.idle {
		if !key.IsValid() || (c.perIP && c.key == key) {
			return c
		}
	}
	return nil
}

// shed answers 503 and closes: over plain HTTP, with a short linger so that
// the answer arrives (at most cap(lingering) at once); over TLS by closing
// at once.
func (l *connLimiter) shed(c net.Conn) {
	if l.tls {
		c.Close()
		return
	}
	select {
	case l.lingering <- struct{}{}:
	default:
		// Too many lingering already (a flood): answer without waiting.
		// A fresh socket takes the few bytes at once; if the request had
		// arrived, the close may reset the connection before the answer
		// is read.
		c.SetWriteDeadline(l.now().Add(10 * time.Millisecond))
		io.WriteString(c, busyResponse)
		c.Close()
		return
	}
	go func() {
		defer func() { <-l.lingering }()
		defer c.Close()
		c.SetDeadline(l.now().Add(shedLinger))
		if _, err := io.WriteString(c, busyResponse); err != nil {
			return
		}
		if cw, ok := c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		io.Copy(io.Discard, io.LimitReader(c, 64<<10))
	}()
}

// releaseLocked gives c's slot back, once.
func (l *connLimiter) releaseLocked(c *limitedConn) {
	if c.released {
		return
	}
	c.released = true
	delete(l.idle, c)
	l.total--
	if c.perIP {
		if l.perIP[c.key]--; l.perIP[c.key] <= 0 {
			delete(l.perIP, c.key)
		}
	}
	l.metrics.open.Dec()
}

// connState is the server's ConnState hook: it tells idle keep-alive
// connections, which may be closed to make room, from busy ones.
func (l *connLimiter) connState(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if lc.released {
		return
	}
	if state == http.StateIdle {
		l.idle[lc] = struct{}{}
	} else {
		delete(l.idle, lc)
	}
}

// limitedConn gives its slot back when closed.
type limitedConn struct {
	net.Conn
	l     *connLimiter
	key   netip.Addr
	perIP bool // counted against its address's cap

	released bool // guarded by l.mu
}

func (c *limitedConn) Close() error {
	c.l.mu.Lock()
	c.l.releaseLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite lets the server half-close before closing (net/http does so
// after refusing a body, so that its answer is not lost to a reset).
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// ReadFrom keeps the TCP connection's sendfile/splice path.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	return io.Copy(c.Conn, r)
}

func remoteIP(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clientKey is what the per-address cap counts: an IPv4 address, or an
// IPv6 client's /64 (one subscriber's whole allocation, which it can
// rotate through at will).
func clientKey(ip netip.Addr) netip.Addr {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// connMetrics are the connection caps' Prometheus series.
type connMetrics struct {
	open    prometheus.Gauge
	refused *prometheus.CounterVec
}

// connMetrics registers the series once per registry: a Server may serve
// more than one listener.
func (s *Server) connMetrics() connMetrics {
	return connMetrics{
		open: registered(s.metrics.Registry, prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portal_http_connections_open",
			Help: "Connections open on the public listener, counted against PORTAL_MAX_CONNS.",
		})),
		refused: registered(s.metrics.Registry, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_http_connections_refused_total",
			Help: "Connections refused at accept, by reason: per_ip (PORTAL_MAX_CONNS_PER_IP), total (PORTAL_MAX_CONNS, answered 503), idle_closed (an idle keep-alive closed to make room).",
		}, []string{"reason"})),
	}
}

func registered[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
