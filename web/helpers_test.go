package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/internal/testlog"
)

type testEnv struct {
	srv  *Server
	pool *pgxpool.Pool // the test's own database, for checks behind the handlers
	http *httptest.Server
	logs *testlog.Buffer
}

// newTestEnv starts the real handler over a real, freshly migrated database.
// extra overrides configuration variables.
func newTestEnv(t *testing.T, extra map[string]string) *testEnv {
	t.Helper()
	pool := pgtest.NewPool(t)
	vars := map[string]string{
		"PORTAL_DATABASE_URL": "postgres://unused/for-config-validation",
		"PORTAL_ORG_NAME":     "Health Net",
		"PORTAL_ORG_CONTACTS": "Provider Services – Los Angeles County=tel:1-855-464-3571;Provider Services – San Diego County=tel:1-855-464-3572;Provider Services email=mailto:provider_services@healthnet.com;Provider Communications=fax:1-800-937-6086",
	}
	for k, v := range extra {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	db := postgres.NewDatabase(pool)
	srv := New(cfg, log, nil, Services{Sessions: db.SessionStore(), RateLimits: postgres.NewRateLimits(pool), Readiness: db})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &testEnv{srv: srv, pool: pool, http: ts, logs: logs}
}

// get fetches path and returns the response with its body read.
func (e *testEnv) get(t *testing.T, path string) (*http.Response, string) {
	t.Helper()
	return do(t, e.http.Client(), http.MethodGet, e.http.URL+path, nil, nil)
}

func do(t *testing.T, c *http.Client, method, url string, body io.Reader, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func mustContain(t *testing.T, what, s string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(s, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}
