package app_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/testlog"
)

// newApp assembles the portal over a fresh database, as serve does.
func newApp(t *testing.T, opts app.Options) (*app.App, *envelope.Keyring, string, *testlog.Buffer) {
	t.Helper()
	dbURL := pgtest.New(t)
	cfg, err := config.Load(func(k string) string { return map[string]string{"PORTAL_DATABASE_URL": dbURL}[k] })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "portal.keyring")
	keyring, err := envelope.InitKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	a, err := app.New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), pgtest.NewPoolFor(t, dbURL), keyring, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a, keyring, path, &logs
}

// The metrics of the assembled portal include the database pool and the job
// queue, which the composition root wires into the web layer's registry.
func TestMetricsIncludeDatabasePoolAndJobs(t *testing.T) {
	a, _, _, _ := newApp(t, app.Options{})
	if _, err := a.Pool.Exec(context.Background(), `INSERT INTO river_job (kind, args, state, max_attempts) VALUES ('probe', '{}', 'available', 1)`); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{"portal_db_pool_max_conns", `portal_jobs{kind="probe",state="available"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A running portal re-reads its keyring file now and then: after another
// process rotates it, new DEKs are wrapped under the new version without a
// restart.
func TestRunningPortalPicksUpARotationMadeElsewhere(t *testing.T) {
	app, keyring, path, logs := newApp(t, app.Options{KeyringReload: 20 * time.Millisecond})
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer app.Stop(context.Background())

	admin, err := envelope.LoadKeyring(path) // `portal keys rotate`, in another process
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Rotate(); err != nil {
		t.Fatal(err)
	}
	// The deadline only turns "never" into a failure.
	for deadline := time.Now().Add(10 * time.Second); keyring.CurrentVersion() != 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the running portal still wraps under v%d after another process rotated to v2", keyring.CurrentVersion())
		}
	}
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "KEKs reloaded"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the reload:\n%s", logs.String())
		}
	}
}
