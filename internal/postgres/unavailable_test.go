package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A database out of reach is marked Unavailable (the web layer answers 503
// with Retry-After); an ordinary failure of the request is not.
func TestUnreachableDatabaseErrorsAreMarkedUnavailable(t *testing.T) {
	pool := pgtest.NewPool(t)
	store := postgres.NewAccountStore(pool, nil, nil)
	ctx := context.Background()
	var u interface{ Unavailable() bool }
	if _, err := store.UserByEmail(ctx, "nobody@clinic.example"); errors.As(err, &u) {
		t.Errorf("a missing user is marked unavailable: %v", err)
	}
	pool.Close()
	_, err := store.UserByEmail(ctx, "nobody@clinic.example")
	if !errors.As(err, &u) || !u.Unavailable() {
		t.Errorf("a closed pool is not marked unavailable: %v", err)
	}
	if errors.Is(err, accounts.ErrNotFound) {
		t.Error("a closed pool reads as not found")
	}
}

// A session the server ends (pg_ctl stop -m fast, a restart: SQLSTATE
// 57P01) reaches scs through the session store marked Unavailable, so the
// page whose session cannot load is the 503 "busy" page, not a 500.
func TestSessionStoreMarksAnEndedServerSessionUnavailable(t *testing.T) {
	dbURL := pgtest.New(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1 // the connection ended below is the one the store uses next
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := postgres.NewDatabase(pool).SessionStore()
	if err := store.Commit("token", []byte("data"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	admin := pgtest.NewPoolFor(t, dbURL)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the FATAL message is on its way
	_, _, err = store.Find("token")
	var u interface{ Unavailable() bool }
	if err == nil || !errors.As(err, &u) || !u.Unavailable() {
		t.Errorf("finding a session on a connection the server ended: %v, want an error marked unavailable", err)
	}
}
