package portal_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/portal"
	"github.com/healthnet/secureportal/internal/testlog"
)

// A running portal re-reads its keyring file now and then: after another
// process rotates it, new DEKs are wrapped under the new version without a
// restart.
func TestRunningPortalPicksUpARotationMadeElsewhere(t *testing.T) {
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
	app, err := portal.New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), pgtest.NewPoolFor(t, dbURL), keyring,
		portal.Options{KeyringReload: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
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
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(logs.String(), "keyring reloaded"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line for the reload:\n%s", logs.String())
		}
	}
}
