package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestSecurityTraceAndUnknownMethodsAreRefusedOnEveryRoute sends TRACE,
// TRACK, the WebDAV and other unserved methods, a made-up one and a
// lowercase spelling to every route of the table (real ids filled in) as
// the route's own user, TRACE anonymously too, and CONNECT: 501
// (or 405 where the route table itself answers), the portal's page, no
// echo of the request's headers or cookies, and nothing stored. TestMethodsARouteDoesNotHaveAreRefusedWithAllow
// checks the same on three paths and the 405s with Allow.
func TestSecurityTraceAndUnknownMethodsAreRefusedOnEveryRoute(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	w := newSecWorld(t)
	table := w.inputRoutes()
	methods := []string{"TRACE", "TRACK", "PUT", "DELETE", "OPTIONS", "PROPFIND", "FOO", "get"}
	probe := http.Header{"X-Probe": {"echo-me-4711"}, "Cookie": {"probe=echo-me-4711"}, "Max-Forwards": {"0"}}
	settle(t, w.site)
	before := stateWithout(t, w.site, "sessions")
	paths := map[string]bool{}
	sent := 0
	for _, route := range servedRoutes(t, w.site) {
		r, ok := table[route]
		if !ok {
			t.Errorf("no case for %s (add one to inputRoutes)", route)
			continue
		}
		if paths[r.path] {
			continue
		}
		paths[r.path] = true
		for _, who := range []string{secNobody, r.actor} {
			b := w.actor(who)
			for i, m := range methods {
				if who == secNobody && r.actor != secNobody && i > 0 {
					break // anonymous: TRACE; the route's own user: all
				}
				p := b.do(m, r.path, nil, probe, strings.NewReader("a=b"))
				if p.Status != http.StatusNotImplemented && p.Status != http.StatusMethodNotAllowed {
					t.Errorf("%s %s as %s: %d, want 501", m, r.path, who, p.Status)
				}
				if strings.Contains(p.Body, "echo-me-4711") || strings.Contains(p.Body, "X-Probe") || strings.Contains(p.Body, "Max-Forwards") {
					t.Errorf("%s %s as %s echoes the request", m, r.path, who)
				}
				if p.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(p.Body, `data-testid="error-page"`) {
					t.Errorf("%s %s as %s: not the portal's page (%q)", m, r.path, who, p.Header.Get("Content-Type"))
				}
				sent++
			}
		}
	}
	// CONNECT names an authority, not a path: sent as a client would.
	conn, err := net.Dial("tcp", strings.TrimPrefix(w.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nX-Probe: echo-me-4711\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	must(t, fmt.Sprintf("CONNECT refused: %d", res.StatusCode), res.StatusCode == http.StatusNotImplemented || res.StatusCode == http.StatusMethodNotAllowed || res.StatusCode == http.StatusBadRequest)

	settle(t, w.site)
	if after := stateWithout(t, w.site, "sessions"); fmtState(before, after) != "[]" {
		t.Errorf("unserved methods changed %s", fmtState(before, after))
	}
	t.Logf("%d requests over %d paths", sent, len(paths))
}

// TestSecurityNoDebugOrMetricsOnThePublicListener asks the public handler,
// with metrics enabled on their own listener, for the usual debug and
// metrics endpoints (pprof, expvar, Prometheus, health details, server
// status pages), anonymously and as an admin: all 404, the portal's page,
// none of their content. TestMetricsCountRequestsByRoutePattern covers
// the metrics themselves.
func TestSecurityNoDebugOrMetricsOnThePublicListener(t *testing.T) {
	t.Parallel() // its own site and database (security_world_test.go)
	s := newSite(t, map[string]string{"PORTAL_METRICS_ADDR": "127.0.0.1:0"})
	_, admin := s.admin("admin@plan.example")
	paths := []string{
		"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=2", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1",
		"/debug/pprof/trace", "/debug/vars", "/debug/requests", "/debug/events", "/metrics", "/metrics/", "/prometheus", "/admin/metrics",
		"/static/../debug/pprof/", "/server-status", "/actuator/health", "/_debug", "/.well-known/../metrics", "/healthz/../metrics",
	}
	for _, path := range paths {
		for who, b := range map[string]*browser{"anonymous": s.browser(), "admin": admin} {
			p := b.get(path)
			signIn := p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login?") // /admin/… asks a visitor to sign in first
			if p.Status != http.StatusNotFound && !signIn {
				t.Errorf("GET %s as %s: %d %s, want 404", path, who, p.Status, p.Location)
			}
			for _, leak := range []string{"goroutine", "go_gc_", "process_cpu", "http_requests", "memstats", "cmdline", "# HELP", "# TYPE"} {
				if strings.Contains(p.Body, leak) {
					t.Errorf("GET %s as %s shows %q", path, who, leak)
				}
			}
		}
	}
	// The control: the metrics exist (their own handler has them), just
	// not on this listener.
	rec := httptest.NewRecorder()
	s.app.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	must(t, "the metrics handler of their own listener has them", rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "# HELP"))
}
