package postgres_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

func TestMigrateIsIdempotent(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewEmpty(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for i := range 2 {
		if err := postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	pending, err := postgres.MigrationsPending(ctx, pool)
	if err != nil || pending {
		t.Fatalf("pending=%v err=%v after migrating", pending, err)
	}
}

// Two instances starting at once must not race: both succeed and the schema
// is applied exactly once.
func TestConcurrentMigrationsAreSerialised(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewEmpty(t)
	const instances = 4
	var wg sync.WaitGroup
	errs := make([]error, instances)
	for i := range instances {
		wg.Go(func() {
			pool, err := postgres.Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer pool.Close()
			errs[i] = postgres.Migrate(ctx, pool, slog.New(slog.DiscardHandler))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	pool, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var applied, distinct int
	err = pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&applied, &distinct)
	if err != nil {
		t.Fatal(err)
	}
	if applied != distinct {
		t.Errorf("goose recorded %d applications of %d versions: a migration ran twice", applied, distinct)
	}
	var riverTable bool
	pool.QueryRow(ctx, `SELECT to_regclass('river_job') IS NOT NULL`).Scan(&riverTable)
	if !riverTable {
		t.Error("River's migrations were not applied")
	}
}

func TestMigrationsPendingOnEmptyDatabase(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, pgtest.NewEmpty(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	pending, err := postgres.MigrationsPending(ctx, pool)
	if err != nil || !pending {
		t.Fatalf("pending=%v err=%v on an empty database, want true", pending, err)
	}
}

func TestOpenDoesNotLeakPassword(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:s3cretpw@127.0.0.1:1/x?connect_timeout=1")
	if err == nil {
		t.Fatal("connected to port 1?")
	}
	if strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("error leaks password: %v", err)
	}
}
