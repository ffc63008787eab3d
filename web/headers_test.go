package web_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// Every route of the route table answers with the security headers of
// DESIGN.md §6, whoever asks and whatever the answer (page, redirect, 404,
// 405, 403): a new route cannot forget them.
func TestEveryRouteSendsTheSecurityHeaders(t *testing.T) {
	routes := everyRouteAsAnyone(t, func(who string, b *browser, method, route, path string) {
		p := b.do(method, path, nil, nil)
		h := p.Header
		for name, want := range map[string]string{
			"Content-Security-Policy": "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
			"X-Content-Type-Options":  "nosniff",
			"X-Frame-Options":         "DENY",
		} {
			if !strings.HasPrefix(h.Get(name), strings.Split(want, ";")[0]) {
				t.Errorf("%s %s as %s (%d): %s = %q", method, path, who, p.Status, name, h.Get(name))
			}
		}
		if !strings.HasPrefix(route, "/static/") && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s as %s: Cache-Control = %q, want no-store", method, path, who, h.Get("Cache-Control"))
		}
	})
	must(t, "walked the route table", routes > 40)
}

// everyRouteAsAnyone calls visit for every route of the portal's route
// table, with a path that fills in its parameters, once for an anonymous
// visitor and once for a signed-in provider (who), and returns how many
// routes there were.
func everyRouteAsAnyone(t *testing.T, visit func(who string, b *browser, method, route, path string)) int {
	t.Helper()
	s := newSite(t, nil)
	s.provider("dr@clinic.example")
	visitors := map[string]*browser{"anonymous": s.browser(), "provider": s.signedIn("dr@clinic.example")}
	routes := 0
	err := chi.Walk(s.app.Web.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes++
		path := strings.NewReplacer("{id}", "00000000-0000-4000-8000-000000000000", "{token}", "AAAA", "/*", "/x").Replace(route)
		for who, b := range visitors {
			visit(who, b, method, route, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}
