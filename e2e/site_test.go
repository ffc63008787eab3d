package e2e

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/balancertest"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/pgtest"
)

// orgContacts are the demo contacts of `make run` (cmd/portal/dev.go), so the
// pages carry a realistic footer.
const orgContacts = "Provider Services – Los Angeles County=tel:1-855-464-3571;" +
	"Provider Services – San Diego County=tel:1-855-464-3572;" +
	"Provider Services email=mailto:provider_services@healthnet.com;" +
	"Provider Communications=fax:1-800-937-6086"

// A password that passes the NIST policy (length, blocklist, context words).
const (
	goodPassword  = "copper kettle whistles at dawn"
	otherPassword = "seven lanterns drift over harbor"
)

// site is one whole portal for one test: its own database, SMTP sink, job
// workers and HTTP server on a real loopback port.
type site struct {
	t    *testing.T
	URL  string // http://localhost:PORT: the session cookie is host-only, so the browser must use this host
	App  *app.App
	Mail *mailcatcher.Server

	mu       sync.Mutex
	mailSeen map[string]int // per recipient, the newest message ID already read
	offset   time.Duration  // how far advanceClock moved the account clock
	phones   map[string]*phone
	// served counts the requests each instance answered, health checks
	// aside.
	served []atomic.Int64
}

// now is the clock of the account rules (link expiry, lockout): real time,
// plus whatever advanceClock added.
func (s *site) now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.offset)
}

// advanceClock lets time pass for the account rules, so a journey can
// outlive a link without sleeping. Sessions keep real time.
func (s *site) advanceClock(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

func newSite(t *testing.T, extra map[string]string) *site {
	return newSiteOf(t, extra, 1)
}

// newSiteOf is newSite with instances portals on one database, keyring and
// mail catcher; more than one stand behind HAProxy (balancertest), and
// the site's URL is the balancer's. App is the first instance.
func newSiteOf(t *testing.T, extra map[string]string, instances int) *site {
	t.Helper()
	logs := newTestWriter(t)
	mc, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })

	listeners := make([]net.Listener, instances)
	for i := range listeners {
		if listeners[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	front := listeners[0].Addr().String()
	if instances > 1 {
		front = balancertest.FreeAddr(t)
	}
	_, port, _ := net.SplitHostPort(front)
	baseURL := "http://localhost:" + port

	dbURL := pgtest.New(t)
	vars := map[string]string{
		"PORTAL_DATABASE_URL": dbURL,
		"PORTAL_SMTP_URL":     "smtp://" + mc.Addr() + "?tls=none",
		"PORTAL_MAIL_FROM":    "Health Net Secure Messaging <secure@healthnet.example>",
		"PORTAL_ORG_NAME":     "Health Net",
		"PORTAL_ORG_CONTACTS": orgContacts,
		"PORTAL_BASE_URL":     baseURL,
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPoolFor(t, dbURL)
	keyring, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "k"))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s := &site{t: t, URL: baseURL, Mail: mc, mailSeen: map[string]int{}, phones: map[string]*phone{}, served: make([]atomic.Int64, instances)}
	for i, ln := range listeners {
		app, err := app.New(cfg, logger, pool, keyring, app.Options{Now: s.now})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		if err := app.Start(ctx); err != nil {
			cancel()
			t.Fatal(err)
		}
		handler := app.Web.Handler()
		counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/readyz" { // the balancer's health checks
				s.served[i].Add(1)
			}
			handler.ServeHTTP(w, r)
		})
		srv := &http.Server{Handler: counted, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() {
			stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
			defer stop()
			srv.Shutdown(stopCtx)
			app.Stop(stopCtx)
			cancel()
		})
		if i == 0 {
			s.App = app
		}
	}
	if instances > 1 {
		addrs := make([]string, instances)
		for i, ln := range listeners {
			addrs[i] = ln.Addr().String()
		}
		balancertest.Start(t, front, balancertest.Options{}, addrs...)
	}
	return s
}

// testWriter sends the portal's warnings and errors to the test log, and
// drops what a straggling goroutine writes once the test has ended.
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func newTestWriter(t *testing.T) *testWriter {
	w := &testWriter{t: t}
	t.Cleanup(func() { // registered first, so it runs last
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// createProvider adds a provider. With a password the account is active;
// without one it is pending and the job workers email a registration link.
func (s *site) createProvider(email, name, password string) accounts.User {
	s.t.Helper()
	u, err := s.App.Accounts.CreateUser(context.Background(), email, name, accounts.RoleProvider, password, 0, "")
	if err != nil {
		s.t.Fatalf("create provider %s: %v", email, err)
	}
	return u
}

// mailLink waits for the next mail to `to` (newer than any read before)
// whose subject contains subject, and returns its link on the portal whose
// path starts with pathPrefix: what a person clicks in the email.
func (s *site) mailLink(to, subject, pathPrefix string) string {
	s.t.Helper()
	return s.linkIn(s.mailTo(to, subject), pathPrefix)
}

// mailTo waits for the next mail to `to` (newer than any read before) whose
// subject contains subject, and returns it whole.
func (s *site) mailTo(to, subject string) mailcatcher.Message {
	s.t.Helper()
	s.mu.Lock()
	after := s.mailSeen[to]
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	m, err := s.Mail.WaitFor(ctx, func(m mailcatcher.Message) bool {
		if m.ID <= after || !strings.Contains(strings.ToLower(m.Subject), strings.ToLower(subject)) {
			return false
		}
		for _, rcpt := range m.To {
			if strings.EqualFold(rcpt, to) {
				return true
			}
		}
		return false
	})
	if err != nil {
		s.t.Fatalf("no mail to %s about %q: %v", to, subject, err)
	}
	s.mu.Lock()
	s.mailSeen[to] = m.ID
	s.mu.Unlock()
	return m
}

// linkIn returns the mail's link on the portal whose path starts with
// pathPrefix.
func (s *site) linkIn(m mailcatcher.Message, pathPrefix string) string {
	s.t.Helper()
	for _, l := range m.Links() {
		if strings.HasPrefix(l, s.URL+pathPrefix) {
			return l
		}
	}
	s.t.Fatalf("mail %q to %s has no %s%s… link; links: %q", m.Subject, m.To, s.URL, pathPrefix, m.Links())
	return ""
}
