// Package pgtest gives each test its own real PostgreSQL database, cloned from
// a template that was migrated once per schema version, so tests are isolated
// and fast (CREATE DATABASE ... TEMPLATE copies files; it does not replay SQL).
//
// The server is PORTAL_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres.
// When it cannot be reached the test is skipped, except with CI=true, where a
// missing database is a failure: CI must never pass by testing nothing.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/migrations"
)

// templateLockID serialises template creation across the parallel test
// processes that `go test ./...` starts.
const templateLockID int64 = 0x5ec9_0a7a_1d3e_7e57

var (
	once        sync.Once
	templateErr error
	template    string
)

// ServerURL is the maintenance database URL tests connect to.
func ServerURL() string {
	if u := os.Getenv("PORTAL_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// New creates a fresh migrated database for t, dropped when t ends, and
// returns its URL.
func New(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	admin := connectAdmin(ctx, t)
	defer admin.Close(ctx)

	once.Do(func() { template, templateErr = ensureTemplate(ctx, admin) })
	if templateErr != nil {
		t.Fatalf("pgtest: prepare template: %v", templateErr)
	}

	return createDatabase(ctx, t, admin, "TEMPLATE "+template)
}

// createDatabase makes a uniquely named database (options such as a
// TEMPLATE clause appended), dropped when t ends, and returns its URL.
func createDatabase(ctx context.Context, t testing.TB, admin *pgx.Conn, options string) string {
	t.Helper()
	name := "portal_test_" + randomHex(8)
	if _, err := admin.Exec(ctx, strings.TrimSpace("CREATE DATABASE "+name+" "+options)); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(ServerURL(), name)
}

// NewPool is New plus a connection pool that is closed when t ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewPoolFor(t, New(t))
}

// NewEmpty creates a fresh database with no schema at all, for tests of the
// migrations themselves.
func NewEmpty(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	admin := connectAdmin(ctx, t)
	defer admin.Close(ctx)
	return createDatabase(ctx, t, admin, "")
}

// connectAdmin connects to the maintenance database, or skips (fails in CI).
func connectAdmin(ctx context.Context, t testing.TB) *pgx.Conn {
	t.Helper()
	admin, err := pgx.Connect(ctx, ServerURL())
	if err != nil {
		unavailable(t, err)
	}
	return admin
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("pgtest: PostgreSQL unreachable at %s and CI=true: %v", redact(ServerURL()), err)
	}
	t.Skipf("pgtest: PostgreSQL unreachable at %s (set PORTAL_TEST_DATABASE_URL or run `make test`): %v", redact(ServerURL()), err)
}

// ensureTemplate makes sure a database migrated to exactly this binary's
// schema exists. Its name carries a hash of the migration files, so changing a
// migration yields a new template instead of reusing a stale one.
func ensureTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	sum, err := schemaHash()
	if err != nil {
		return "", err
	}
	name := "portal_template_" + sum
	if _, err := admin.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockID); err != nil {
		return "", err
	}
	defer admin.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockID)

	var exists bool
	if err := admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	pool, err := postgres.Open(ctx, withDatabase(ServerURL(), building))
	if err != nil {
		return "", err
	}
	err = postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
	pool.Close()
	if err != nil {
		return "", err
	}
	// Renamed only once complete, so a crash mid-migration never leaves a
	// half-built template that later runs would trust.
	if _, err := admin.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", building, name)); err != nil {
		return "", err
	}
	return name, nil
}

func schemaHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", err
	}
	fmt.Fprint(h, postgres.RiverSchemaVersion())
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewPoolFor opens a pool on a database made by New, closed when t ends.
func NewPoolFor(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// NewRole creates a login role that owns nothing and holds no privileges,
// dropped when t ends, and returns dbURL rewritten to connect as it: the
// restricted role a production portal serves as.
func NewRole(t testing.TB, dbURL string) string {
	t.Helper()
	ctx := context.Background()
	admin := connectAdmin(ctx, t)
	defer admin.Close(ctx)
	name, secret := "portal_app_"+randomHex(6), randomHex(16)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+name+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '"+secret+"'"); err != nil {
		t.Fatalf("pgtest: create role: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The role's grants live in dbURL's database: revoke them there first.
		for _, step := range []struct{ url, sql string }{{dbURL, "DROP OWNED BY " + name}, {ServerURL(), "DROP ROLE " + name}} {
			c, err := pgx.Connect(ctx, step.url)
			if err != nil {
				t.Errorf("pgtest: drop role %s: %v", name, err)
				return
			}
			_, err = c.Exec(ctx, step.sql)
			c.Close(ctx)
			if err != nil {
				t.Errorf("pgtest: drop role %s: %v", name, err)
				return
			}
		}
	})
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.UserPassword(name, secret)
	return u.String()
}
