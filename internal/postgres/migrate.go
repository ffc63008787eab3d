package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/healthnet/secureportal/migrations"
)

// migrationLockID is the pg_advisory_lock key that serialises migrations:
// two instances starting at once must not both apply the same change.
// (An arbitrary constant: the first bytes of SHA-256("secureportal/migrate").)
const migrationLockID int64 = 0x5ec9_0a7a_1d3e_0001

// Migrate applies the portal's own migrations and River's, in that order,
// while holding a session-level advisory lock. It is safe to call from many
// processes at once: the others wait, then find nothing left to do.
func Migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: acquire lock connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockID); err != nil {
		return fmt.Errorf("postgres: migrate: take advisory lock: %w", err)
	}
	defer func() {
		// A fresh context: unlock even when ctx was cancelled mid-migration.
		_, uerr := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockID)
		err = errors.Join(err, uerr)
	}()

	provider, err := newGoose(pool, log)
	if err != nil {
		return err
	}
	defer provider.Close()
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}

	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("postgres: migrate river: %w", err)
	}
	res, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("postgres: migrate river: %w", err)
	}
	for _, v := range res.Versions {
		log.Info("river migration applied", "version", v.Version)
	}
	return nil
}

// MigrationsPending reports whether the database lags the binary's schema,
// which makes the instance not ready to serve.
func MigrationsPending(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	provider, err := newGoose(pool, slog.New(slog.DiscardHandler))
	if err != nil {
		return false, err
	}
	defer provider.Close()
	pending, err := provider.HasPending(ctx)
	if err != nil {
		return false, fmt.Errorf("postgres: check migrations: %w", err)
	}
	return pending, nil
}

func newGoose(pool *pgxpool.Pool, log *slog.Logger) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), migrations.FS,
		goose.WithSlog(log), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("postgres: load migrations: %w", err)
	}
	return p, nil
}

// RiverSchemaVersion names the newest River migration this binary carries;
// test templates are keyed on it so a River upgrade rebuilds them.
func RiverSchemaVersion() string {
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "unknown"
	}
	all := m.AllVersions()
	if len(all) == 0 {
		return "none"
	}
	return fmt.Sprintf("river-%d", all[len(all)-1].Version)
}
