package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/go-chi/chi/v5"
)

// Every response, page or not, found or not, carries the headers of
// DESIGN.md §6.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newTestEnv(t, nil)
	paths := []string{"/", "/help", "/healthz", "/readyz", "/no-such-page", e.srv.assets.URL("css/app.css")}
	for _, p := range paths {
		res, _ := e.get(t, p)
		h := res.Header
		if got := h.Get("Content-Security-Policy"); got != contentSecurityPolicy {
			t.Errorf("%s: CSP = %q", p, got)
		}
		for name, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "same-origin",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", p, name, got, want)
			}
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", p)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent over plain http", p)
		}
	}
}

func TestDynamicPagesAreNotCachedButAssetsAre(t *testing.T) {
	e := newTestEnv(t, nil)
	for _, p := range []string{"/", "/help", "/no-such-page"} {
		if res, _ := e.get(t, p); res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control = %q, want no-store", p, res.Header.Get("Cache-Control"))
		}
	}
	res, body := e.get(t, e.srv.assets.URL("css/app.css"))
	if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("asset: status %d Cache-Control %q", res.StatusCode, res.Header.Get("Cache-Control"))
	}
	if !strings.Contains(res.Header.Get("Content-Type"), "text/css") || !strings.Contains(body, "--brand") {
		t.Errorf("asset content type %q", res.Header.Get("Content-Type"))
	}
	if res, _ := e.get(t, "/static/000000000000/css/app.css"); res.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("stale hash must be revalidated, got %q", res.Header.Get("Cache-Control"))
	}
	if res, _ := e.get(t, "/static/x/../../go.mod"); res.StatusCode != http.StatusNotFound {
		t.Errorf("path traversal: status %d", res.StatusCode)
	}
}

func TestHSTSWhenBaseURLIsHTTPS(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_BASE_URL": "https://secure.example.org"})
	res, _ := e.get(t, "/help")
	if !strings.Contains(res.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("HSTS = %q", res.Header.Get("Strict-Transport-Security"))
	}
}

// The guide tells how long a reset link works as configured, not a number
// written into the page.
func TestHelpPageTellsTheConfiguredResetLinkLifetime(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_RESET_TTL": "45m"})
	_, body := e.get(t, "/help")
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	text := doc.Find("#password").Next().Text()
	if !strings.Contains(text, "45 minutes") || strings.Contains(text, "30 minutes") {
		t.Errorf("reset paragraph with PORTAL_RESET_TTL=45m: %q", text)
	}
}

func TestHelpPageShowsTheOrganisationsContacts(t *testing.T) {
	e := newTestEnv(t, nil)
	res, body := e.get(t, "/help")
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Find("h1").First().Text(); got != "Secure Email Guide" {
		t.Errorf("h1 = %q", got)
	}
	contacts := doc.Find(`[data-testid="help-page"] [data-testid="contacts"]`).Text()
	mustContain(t, "help contacts", contacts, "Los Angeles County", "1-855-464-3571", "San Diego County",
		"1-855-464-3572", "provider_services@healthnet.com", "1-800-937-6086")
	if href, _ := doc.Find(`a[href^="tel:"]`).First().Attr("href"); href != "tel:18554643571" {
		t.Errorf("tel link = %q", href)
	}
	for _, section := range []string{"#register", "#read", "#reply", "#password", "#contact"} {
		if doc.Find(section).Length() != 1 {
			t.Errorf("guide has no section %s", section)
		}
	}
	if doc.Find("a.skip-link[href='#main']").Length() != 1 || doc.Find("main#main").Length() != 1 {
		t.Error("skip link or main landmark missing")
	}
}

func TestNotFoundIsAFriendlyPage(t *testing.T) {
	e := newTestEnv(t, nil)
	res, body := e.get(t, "/no-such-area/does-not-exist")
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d", res.StatusCode)
	}
	mustContain(t, "404 page", body, "Page not found", res.Header.Get("X-Request-Id"), "Secure Email Guide")
}

// A panic must give the safe 500 page with the request id, and its stack must
// go only to the log.
func TestPanicGivesSafeErrorPageWithoutStack(t *testing.T) {
	e := newTestEnv(t, nil)
	r := chi.NewRouter()
	r.Use(e.srv.outerMiddleware()...)
	r.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("secret internal detail") })
	ts := httptest.NewServer(r)
	defer ts.Close()

	res, body := do(t, ts.Client(), http.MethodGet, ts.URL+"/boom", nil, nil)
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status %d", res.StatusCode)
	}
	id := res.Header.Get("X-Request-Id")
	mustContain(t, "500 page", body, "Something went wrong on our side", id)
	for _, leak := range []string{"secret internal detail", "goroutine", "panic", ".go:"} {
		if strings.Contains(body, leak) {
			t.Errorf("500 page leaks %q", leak)
		}
	}
	if res.Header.Get("Content-Security-Policy") == "" {
		t.Error("500 page lost its security headers")
	}
	logs := e.logs.String()
	mustContain(t, "log", logs, "secret internal detail", "goroutine", id)
}

// The access log must never hold a query string (it may carry an email
// address) nor a token from an emailed link.
func TestAccessLogHasNoQueryStringOrToken(t *testing.T) {
	e := newTestEnv(t, nil)
	token := "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5"
	e.get(t, "/register/"+token+"?email=dr.smith%40clinic.example&next=/inbox")
	e.get(t, "/help?email=dr.smith%40clinic.example")
	logs := e.logs.String()
	for _, leak := range []string{token, "dr.smith", "clinic.example", "email="} {
		if strings.Contains(logs, leak) {
			t.Errorf("access log contains %q:\n%s", leak, logs)
		}
	}
	mustContain(t, "log", logs, `"path":"/register/REDACTED"`, `"path":"/help"`, `"route":"/help"`)
}

func TestRedactPathUsesTokenRouteParameter(t *testing.T) {
	r := chi.NewRouter()
	var got string
	r.Get("/reset-password/{token}", func(w http.ResponseWriter, r *http.Request) { got = redactPath(r) })
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/reset-password/short", nil))
	if got != "/reset-password/REDACTED" {
		t.Errorf("redacted path = %q", got)
	}
}

func TestReadyzNeedsMigratedDatabase(t *testing.T) {
	e := newTestEnv(t, nil)
	if res, body := e.get(t, "/readyz"); res.StatusCode != 200 || body != "ready\n" {
		t.Errorf("migrated: %d %q", res.StatusCode, body)
	}
	if _, err := e.pool.Exec(context.Background(), "DELETE FROM goose_db_version WHERE version_id > 0"); err != nil {
		t.Fatal(err)
	}
	if res, body := e.get(t, "/readyz"); res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "migrations pending") {
		t.Errorf("unmigrated: %d %q", res.StatusCode, body)
	}
	if res, _ := e.get(t, "/healthz"); res.StatusCode != 200 {
		t.Errorf("healthz must not depend on the database: %d", res.StatusCode)
	}
}

func TestCrossOriginPostIsRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	r := chi.NewRouter()
	r.Use(e.srv.outerMiddleware()...)
	changed := false
	r.With(e.srv.crossOriginProtection).Post("/change", func(w http.ResponseWriter, r *http.Request) { changed = true })
	ts := httptest.NewServer(r)
	defer ts.Close()

	res, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/change", strings.NewReader("a=b"),
		http.Header{"Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"application/x-www-form-urlencoded"}})
	if res.StatusCode != http.StatusForbidden || changed {
		t.Fatalf("cross-site POST: status %d changed=%v", res.StatusCode, changed)
	}
	mustContain(t, "403 page", body, "That action was refused")

	res, _ = do(t, ts.Client(), http.MethodPost, ts.URL+"/change", strings.NewReader("a=b"),
		http.Header{"Sec-Fetch-Site": {"same-origin"}, "Content-Type": {"application/x-www-form-urlencoded"}})
	if res.StatusCode != http.StatusOK || !changed {
		t.Errorf("same-origin POST: status %d changed=%v", res.StatusCode, changed)
	}
}

func TestSessionCookieFlags(t *testing.T) {
	for _, tc := range []struct {
		base, name string
		secure     bool
	}{
		{"http://localhost:8080", "session", false},
		{"https://secure.example.org", "__Host-session", true},
	} {
		e := newTestEnv(t, map[string]string{"PORTAL_BASE_URL": tc.base})
		h := e.srv.sessions.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			e.srv.sessions.Put(r.Context(), "k", "v")
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			t.Fatalf("%s: cookies %v", tc.base, cookies)
		}
		c := cookies[0]
		if c.Name != tc.name || c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
			t.Errorf("%s: cookie %+v", tc.base, c)
		}
		if !c.Expires.IsZero() || c.MaxAge != 0 {
			t.Errorf("%s: cookie must end with the browser session, got expires %v", tc.base, c.Expires)
		}
		// HashTokenInStore: the stored key is not the cookie value.
		var n int
		e.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions WHERE token = $1", c.Value).Scan(&n)
		if n != 0 {
			t.Errorf("%s: session token stored in clear", tc.base)
		}
		e.pool.QueryRow(context.Background(), "SELECT count(*) FROM sessions").Scan(&n)
		if n != 1 {
			t.Errorf("%s: %d sessions stored, want 1", tc.base, n)
		}
	}
}

func TestClientIPTrustsOnlyConfiguredProxies(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	cases := []struct {
		name, remote, xff, want string
		trusted                 []netip.Prefix
	}{
		{"no proxy configured ignores header", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9", nil},
		{"untrusted peer ignores header", "203.0.113.9:5000", "198.51.100.1", "203.0.113.9", proxies},
		{"trusted proxy gives client", "10.0.0.2:5000", "198.51.100.1", "198.51.100.1", proxies},
		{"forged left entries ignored", "10.0.0.2:5000", "1.2.3.4, 198.51.100.1, 10.0.0.7", "198.51.100.1", proxies},
		{"garbage header stops at proxy", "10.0.0.2:5000", "not-an-ip", "10.0.0.2", proxies},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			r.Header.Set("X-Forwarded-For", tc.xff)
			if got := clientAddr(r, tc.trusted).String(); got != tc.want {
				t.Errorf("client IP = %s, want %s", got, tc.want)
			}
		})
	}
}

// A body over the route's limit is refused: at once with 413 when its
// length is announced, and by the reader when it is not (chunked).
func TestBodyLimitRefusesOversizedForms(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_MAX_FORM_BYTES": "1024"})
	var reached bool
	var parseErr error
	h := e.srv.limitBody(1024)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached, parseErr = true, r.ParseForm()
	}))
	form := "a=" + strings.Repeat("x", 4096)
	req := httptest.NewRequest("POST", "/", strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if reached || rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 4 KiB form announced past a 1 KiB limit: status %d, handler reached %v", rec.Code, reached)
	}
	req = httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader(form))) // no length known
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if parseErr == nil {
		t.Error("a 4 KiB form of unannounced length passed a 1 KiB limit")
	}
}

// Shutdown must let a request that is already running finish.
func TestGracefulShutdownCompletesInFlightRequest(t *testing.T) {
	e := newTestEnv(t, nil)
	started := make(chan struct{})
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "finished")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.serve(ctx, ln, slow) }()

	got := make(chan string, 1)
	go func() {
		res, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		got <- string(b)
	}()
	<-started
	cancel() // SIGTERM arrives mid-request
	if body := <-got; body != "finished" {
		t.Errorf("in-flight request got %q", body)
	}
	if err := <-served; err != nil {
		t.Errorf("serve returned %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepting after shutdown")
	}
}

func TestMetricsCountRequestsByRoutePattern(t *testing.T) {
	e := newTestEnv(t, nil)
	e.get(t, "/help")
	e.get(t, "/no/such/42")
	ts := httptest.NewServer(e.srv.metrics.Handler())
	defer ts.Close()
	_, body := do(t, ts.Client(), "GET", ts.URL, nil, nil)
	mustContain(t, "metrics", body,
		`portal_http_requests_total{method="GET",route="/help",status="200"} 1`,
		`portal_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		"go_goroutines")
	if strings.Contains(body, "/no/such/42") {
		t.Error("raw path leaked into metric labels")
	}
}
