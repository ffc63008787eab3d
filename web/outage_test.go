package web_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/pgtest"
)

// dbGate stands between the portal and PostgreSQL. Cut, it is what a
// stopped database looks like from the portal: every connection it carried
// ends, and nothing listens at its address, so a new one is refused.
type dbGate struct {
	t      testing.TB
	addr   string
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while cut
	conns []net.Conn
}

func openDBGate(t testing.TB, target string) *dbGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &dbGate{t: t, addr: ln.Addr().String(), target: target}
	g.serve(ln)
	t.Cleanup(g.cut)
	return g
}

func (g *dbGate) serve(ln net.Listener) {
	g.mu.Lock()
	g.ln = ln
	g.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.forward(c)
		}
	}()
}

func (g *dbGate) forward(c net.Conn) {
	up, err := net.Dial("tcp", g.target)
	if err != nil {
		c.Close()
		return
	}
	g.mu.Lock()
	if g.ln == nil { // cut while dialling
		g.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	g.conns = append(g.conns, c, up)
	g.mu.Unlock()
	go func() {
		io.Copy(up, c)
		up.Close()
	}()
	io.Copy(c, up)
	c.Close()
}

// cut stops the database, as far as the portal can tell.
func (g *dbGate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

// open brings the database back at the same address.
func (g *dbGate) open() {
	g.mu.Lock()
	open := g.ln != nil
	g.mu.Unlock()
	if open {
		return
	}
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		g.t.Fatalf("reopen the database gate: %v", err)
	}
	g.serve(ln)
}

// While PostgreSQL is stopped, people get the portal's own "busy" page with
// a 503 and Retry-After, at once: from the session store (which scs would
// answer with a bare "Internal Server Error") as from a handler. When it is
// back, so is the portal, by itself.
func TestDatabaseOutageGetsTheBusyPageNeverABare500(t *testing.T) {
	dbURL, err := url.Parse(pgtest.New(t))
	if err != nil {
		t.Fatal(err)
	}
	gate := openDBGate(t, dbURL.Host)
	dbURL.Host = gate.addr
	s := newSiteOn(t, dbURL.String(), nil)
	t.Cleanup(gate.open) // the portal stops with its database there
	s.provider("dr@clinic.example")
	provider := s.signedIn("dr@clinic.example")
	must(t, "inbox before the outage", provider.get("/inbox").Status == http.StatusOK)

	gate.cut()
	// The pool checks a connection idle for over a second before lending it
	// (pgxpool's default): past that, each request dials, and is refused.
	time.Sleep(1100 * time.Millisecond)
	start := time.Now()
	answers := map[string]page{
		"a signed-in page (its session cannot load)":            provider.get("/inbox"),
		"signing in (the handler cannot reach the accounts)":    s.browser().login("dr@clinic.example", goodPassword),
		"a signed-in form post (its session cannot load first)": provider.post("/logout", nil),
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("answers during the outage took %v", took)
	}
	for what, p := range answers {
		if p.Status != http.StatusServiceUnavailable || p.Header.Get("Retry-After") != "5" {
			t.Errorf("%s: %d, Retry-After %q; want 503 and 5", what, p.Status, p.Header.Get("Retry-After"))
		}
		contains(t, what, p.Body, `data-testid="error-page"`, "The portal is busy", p.Header.Get("X-Request-Id"), "Secure Email Guide")
		if strings.Contains(p.Body, "Internal Server Error") || p.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Errorf("%s: a bare error (%s): %q", what, p.Header.Get("Content-Type"), p.Body)
		}
	}
	must(t, "readiness says so", provider.get("/readyz").Status == http.StatusServiceUnavailable)
	if strings.Contains(s.logs.String(), `"msg":"internal error"`) {
		t.Error("the outage was logged as an internal error (a bug of ours)")
	}

	gate.open()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p := provider.get("/inbox")
		if p.Status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the inbox still answers %d 5 s after the database came back", p.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
