package web_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/testlog"
)

// clock is a settable clock for the account rules (expiry, lockout).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// siteOnLocalhost, as PORTAL_BASE_URL in newSite's extra, names the site
// http://localhost:PORT (passkeys need a domain name).
const siteOnLocalhost = "http://localhost"

// site is the whole portal over a real database, with a real SMTP sink and
// job workers running.
type site struct {
	t     testing.TB
	URL   string
	app   *app.App
	mail  *mailcatcher.Server
	clock *clock
	logs  *testlog.Buffer
	// seen holds the ids of emails a test already took with mailTo.
	seenMu sync.Mutex
	seen   map[int]bool
	// phones are the users' authenticator apps, by email (lower case).
	phonesMu sync.Mutex
	phones   map[string]*phone
}

func newSite(t testing.TB, extra map[string]string) *site {
	t.Helper()
	return newSiteOn(t, pgtest.New(t), extra)
}

// newSiteOn is newSite over the database at dbURL (reached through a proxy
// that a test can cut, say).
func newSiteOn(t testing.TB, dbURL string, extra map[string]string) *site {
	t.Helper()
	mc, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	vars := map[string]string{
		"PORTAL_DATABASE_URL": dbURL,
		"PORTAL_SMTP_URL":     "smtp://" + mc.Addr() + "?tls=none",
		"PORTAL_ORG_NAME":     "Health Net",
		"PORTAL_MAIL_FROM":    "Health Net Secure Messaging <secure@healthnet.example>",
	}
	for k, v := range extra {
		vars[k] = v
	}
	ts := httptest.NewUnstartedServer(nil)
	// The portal's own address is its listener's, unless the test asks for
	// siteOnLocalhost: the same listener named by a domain name, which
	// passkeys need (tests still reach it at 127.0.0.1).
	base := "http://" + ts.Listener.Addr().String()
	if extra["PORTAL_BASE_URL"] == siteOnLocalhost {
		_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
		base = "http://localhost:" + port
	}
	vars["PORTAL_BASE_URL"] = base
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPoolFor(t, dbURL)
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := &clock{now: time.Now()}
	keyring, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "test.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	app, err := app.New(cfg, log, pool, keyring, app.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := app.Start(ctx); err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = app.Web.Handler()
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
		defer stop()
		app.Stop(stopCtx)
		cancel()
	})
	return &site{t: t, URL: ts.URL, app: app, mail: mc, clock: clk, logs: logs, seen: map[int]bool{}, phones: map[string]*phone{}}
}

// browser is one person's browser: its own cookies, no automatic redirects
// so tests see where each answer points.
type browser struct {
	t testing.TB
	s *site
	c *http.Client
}

func (s *site) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: s.t, s: s, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	Status   int
	Body     string
	Header   http.Header
	Location string
}

func (b *browser) do(method, path string, form url.Values, header http.Header, raw ...io.Reader) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if len(raw) > 0 {
		body = raw[0]
	}
	target := path
	if !strings.HasPrefix(path, "http") {
		target = b.s.URL + path
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	// What a browser sends for a same-site form post.
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	return page{Status: res.StatusCode, Body: string(got), Header: res.Header, Location: res.Header.Get("Location")}
}

func (b *browser) get(path string) page { return b.do(http.MethodGet, path, nil, nil) }
func (b *browser) post(path string, form url.Values) page {
	return b.do(http.MethodPost, path, form, nil)
}

// follow GETs path and follows redirects, returning the final page and URL path.
func (b *browser) follow(path string) (page, string) {
	b.t.Helper()
	for range 10 {
		p := b.get(path)
		if p.Location == "" {
			return p, path
		}
		path = p.Location
	}
	b.t.Fatalf("redirect loop at %s", path)
	return page{}, ""
}

// mailTo waits for the oldest email to addr whose subject contains subject
// that no earlier call took, and returns the first portal link in it
// containing linkPart.
func (s *site) mailTo(addr, subject, linkPart string) (mailcatcher.Message, string) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := s.mail.WaitFor(ctx, func(m mailcatcher.Message) bool {
		s.seenMu.Lock()
		defer s.seenMu.Unlock()
		return !s.seen[m.ID] && len(m.To) > 0 && strings.EqualFold(m.To[0], addr) && strings.Contains(m.Subject, subject)
	})
	if err != nil {
		s.t.Fatalf("no email to %s with subject %q: %v", addr, subject, err)
	}
	s.seenMu.Lock()
	s.seen[m.ID] = true
	s.seenMu.Unlock()
	for _, l := range m.Links() {
		if strings.Contains(l, linkPart) {
			u, _ := url.Parse(l)
			return m, u.Path
		}
	}
	if linkPart != "" {
		s.t.Fatalf("email %q has no link containing %q: %v", m.Subject, linkPart, m.Links())
	}
	return m, ""
}

func must(t *testing.T, what string, cond bool) {
	t.Helper()
	if !cond {
		t.Errorf("%s", what)
	}
}

func contains(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }
