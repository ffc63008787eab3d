package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// serveReal serves h (the portal's handler when nil) through Server.serve,
// the real server with its timeouts and caps, on a fresh loopback listener.
func serveReal(t *testing.T, e *testEnv, h http.Handler) string {
	t.Helper()
	if h == nil {
		h = e.srv.Handler()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.serve(ctx, ln, h) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.x), with a deadline that turns a hang into a failure.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends one GET on c and reads the answer.
func roundTrip(t *testing.T, c net.Conn, path string) (*http.Response, error) {
	t.Helper()
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: portal.test\r\n\r\n"); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res, nil
}

// closedByServer reports whether the server closed c without answering.
func closedByServer(c net.Conn) bool {
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	return n == 0 && err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// One address may hold PORTAL_MAX_CONNS_PER_IP connections; the next is
// closed at once, while another address still gets in and the first ones
// still work.
func TestPerAddressConnectionCap(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_MAX_CONNS_PER_IP": "3", "PORTAL_MAX_CONNS": "100"})
	addr := serveReal(t, e, nil)

	var held []net.Conn
	for range 3 {
		held = append(held, dialFrom(t, "127.0.0.1", addr))
	}
	extra := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(extra, "GET /healthz HTTP/1.1\r\nHost: portal.test\r\n\r\n")
	if !closedByServer(extra) {
		t.Error("the 4th connection from one address was not closed")
	}

	other := dialFrom(t, "127.0.0.2", addr)
	if res, err := roundTrip(t, other, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("another address over a full one: %v %v", res, err)
	}
	for i, c := range held {
		if res, err := roundTrip(t, c, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("held connection %d: %v %v", i, res, err)
		}
	}
	if t.Failed() {
		return
	}
	// Closing one gives its slot back.
	held[0].Close()
	waitFor(t, "the closed connection's slot to be given back", func() bool {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		res, err := roundTrip(t, c, "/healthz")
		return err == nil && res.StatusCode == http.StatusOK
	})
}

// Behind a load balancer every client has the balancer's address: the
// per-address cap does not apply to PORTAL_TRUSTED_PROXIES.
func TestPerAddressCapSparesTrustedProxies(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_MAX_CONNS_PER_IP": "2", "PORTAL_MAX_CONNS": "100", "PORTAL_TRUSTED_PROXIES": "127.0.0.1"})
	addr := serveReal(t, e, nil)
	var conns []net.Conn
	for range 5 {
		conns = append(conns, dialFrom(t, "127.0.0.1", addr))
	}
	for i, c := range conns {
		if res, err := roundTrip(t, c, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
			t.Errorf("connection %d from the trusted proxy: %v %v", i, res, err)
		}
	}
	// Others are still capped.
	for range 2 {
		dialFrom(t, "127.0.0.2", addr)
	}
	if c := dialFrom(t, "127.0.0.2", addr); !closedByServer(c) {
		t.Error("the 3rd connection from an untrusted address was not closed")
	}
}

// Over PORTAL_MAX_CONNS in total a new connection gets a minimal 503 with
// Retry-After, without the request reaching the portal.
func TestTotalConnectionCapAnswers503(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_MAX_CONNS": "3", "PORTAL_MAX_CONNS_PER_IP": "3"})
	addr := serveReal(t, e, nil)
	dialFrom(t, "127.0.0.1", addr)
	dialFrom(t, "127.0.0.2", addr)
	dialFrom(t, "127.0.0.3", addr)

	c := dialFrom(t, "127.0.0.4", addr)
	res, err := roundTrip(t, c, "/healthz")
	if err != nil {
		t.Fatalf("over the total cap: %v (want a 503)", err)
	}
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || !res.Close {
		t.Errorf("over the total cap: status %d, Retry-After %q, close %v", res.StatusCode, res.Header.Get("Retry-After"), res.Close)
	}
	if !closedByServer(c) {
		t.Error("the refused connection stayed open")
	}
	if strings.Contains(e.logs.String(), `"path":"/healthz"`) {
		t.Error("a request over the cap reached the handler")
	}
	waitFor(t, "the refusal in the log", func() bool {
		return strings.Contains(e.logs.String(), "connections refused over the caps")
	})
}

// An idle keep-alive connection makes room for a new one instead of the
// new one being refused: a browser reopens it without a word.
func TestIdleConnectionMakesRoom(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_MAX_CONNS_PER_IP": "2", "PORTAL_MAX_CONNS": "100"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := e.srv.httpServer(e.srv.Handler())
	limited := e.srv.limitConns(ln)
	srv.ConnState = limited.connState
	go srv.Serve(limited)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	idle := dialFrom(t, "127.0.0.1", addr)
	if res, err := roundTrip(t, idle, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("first request: %v %v", res, err)
	}
	waitFor(t, "the keep-alive connection to be idle", func() bool {
		limited.mu.Lock()
		defer limited.mu.Unlock()
		return len(limited.idle) == 1
	})
	busy := dialFrom(t, "127.0.0.1", addr) // connected, nothing sent yet: not idle
	fresh := dialFrom(t, "127.0.0.1", addr)
	if res, err := roundTrip(t, fresh, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("a new connection with an idle one to spare: %v %v", res, err)
	}
	if !closedByServer(idle) {
		t.Error("the idle connection was not the one closed")
	}
	if res, err := roundTrip(t, busy, "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("the connection that was not idle: %v %v", res, err)
	}
}

func TestClientKeyIsTheAddressOrTheIPv6Slash64(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":                "192.0.2.7",
		"2001:db8:1:2:aaaa::1":     "2001:db8:1:2::",
		"2001:db8:1:2:ffff:1:2:3":  "2001:db8:1:2::",
		"2001:db8:1:3::1":          "2001:db8:1:3::",
		"::ffff:192.0.2.7":         "192.0.2.7",
		"fe80::1234:5678:9abc:def": "fe80::",
	} {
		if got := clientKey(netip.MustParseAddr(in).Unmap()); got.String() != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// The total cap never exceeds what the open-file limit holds: two
// descriptors per connection (socket, upload spool file) after a reserve.
func TestFileDescriptorBudget(t *testing.T) {
	for limit, want := range map[uint64]int{20000: (20000 - fdReserve) / 2, 1024: (1024 - fdReserve) / 2, 256: 64, 2: 1, 1 << 40: 1<<31 - 1} {
		if got := fdBudgetOf(limit); got != want {
			t.Errorf("fdBudgetOf(%d) = %d, want %d", limit, got, want)
		}
	}
}

// waitFor polls cond until it holds; the deadline only turns a hang into a
// failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
