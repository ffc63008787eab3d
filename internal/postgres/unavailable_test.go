package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A database out of reach is marked Unavailable (the web layer answers 503
// with Retry-After); an ordinary failure of the request is not.
func TestUnreachableDatabaseErrorsAreMarkedUnavailable(t *testing.T) {
	pool := pgtest.NewPool(t)
	store := postgres.NewAccountStore(pool, nil)
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
