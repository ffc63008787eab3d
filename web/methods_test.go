package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// HEAD answers wherever GET does (RFC 9110 §9.3.2: the same status and
// headers, no body), for every GET route of the table, signed in or not.
func TestHeadAnswersWhereverGetDoes(t *testing.T) {
	gets := 0
	everyRouteAsAnyone(t, func(who string, b *browser, method, _, path string) {
		if method != http.MethodGet {
			return
		}
		gets++
		get, head := b.get(path), b.do(http.MethodHead, path, nil, nil)
		if head.Status != get.Status || head.Body != "" || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s as %s: %d %q, %d bytes; GET: %d %q", path, who, head.Status, head.Header.Get("Content-Type"), len(head.Body),
				get.Status, get.Header.Get("Content-Type"))
		}
	})
	must(t, "walked the GET routes (as two visitors)", gets > 60)
}

// The areas' roots are mounted routers, which register a catch-all of
// their own: HEAD there answered 405 while GET answered (issue 13).
func TestHeadAnswersOnTheAreasRoots(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rita Rep", "LA")
	_, admin := s.admin("admin@plan.example")
	for _, c := range []struct {
		b    *browser
		path string
	}{{s.signedIn("rep@plan.example"), "/staff/"}, {admin, "/admin/"}} {
		get, head := c.b.get(c.path), c.b.do(http.MethodHead, c.path, nil, nil)
		if head.Status != get.Status || head.Body != "" {
			t.Errorf("HEAD %s: %d, %d bytes; GET: %d", c.path, head.Status, len(head.Body), get.Status)
		}
	}
}

// A method a route does not have is refused with 405 and an Allow header
// naming the methods it has (RFC 9110 §15.5.6), on the portal's page; a
// method the portal serves nowhere (TRACE, PUT, made-up ones) is refused
// with 501 before routing, and nothing of the request comes back.
func TestMethodsARouteDoesNotHaveAreRefusedWithAllow(t *testing.T) {
	s := newSite(t, nil)
	s.provider("dr@clinic.example")
	_, admin := s.admin("admin@plan.example")
	anonymous := s.browser()
	provider := s.signedIn("dr@clinic.example")
	cases := []struct {
		b      *browser
		method string
		path   string
		allow  string
	}{
		{anonymous, http.MethodGet, "/logout", "POST"},
		{anonymous, http.MethodHead, "/logout", "POST"},
		{anonymous, http.MethodPost, "/healthz", "GET, HEAD"},
		{anonymous, http.MethodPost, "/help", "GET, HEAD"},
		{anonymous, http.MethodPost, "/tls-check", "GET, HEAD"},
		{provider, http.MethodPost, "/inbox", "GET, HEAD"},
		{provider, http.MethodGet, "/threads/00000000-0000-4000-8000-000000000000/reply", "POST"},
		{admin, http.MethodPost, "/admin/users", "GET, HEAD"},
		{admin, http.MethodGet, "/admin/staff", "POST"},
	}
	for _, tc := range cases {
		p := tc.b.do(tc.method, tc.path, nil, nil)
		if p.Status != http.StatusMethodNotAllowed || p.Header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d, Allow %q; want 405, Allow %q", tc.method, tc.path, p.Status, p.Header.Get("Allow"), tc.allow)
		}
		if tc.method != http.MethodHead {
			contains(t, tc.method+" "+tc.path, p.Body, `data-testid="error-page"`, "That action is not available here")
		}
	}

	probe := http.Header{"X-Probe": {"echo-me-4711"}, "Cookie": {"probe=echo-me-4711"}}
	for _, method := range []string{"TRACE", "TRACK", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "FOO"} {
		for _, path := range []string{"/login", "/inbox", "/no-such-page"} {
			p := provider.do(method, path, nil, probe)
			if p.Status != http.StatusNotImplemented {
				t.Errorf("%s %s: %d, want 501", method, path, p.Status)
			}
			if strings.Contains(p.Body, "echo-me-4711") || strings.Contains(p.Body, "X-Probe") || p.Header.Get("Content-Type") != "text/html; charset=utf-8" {
				t.Errorf("%s %s echoes the request or is not the portal's page: %q", method, path, p.Body)
			}
		}
	}
}
