package postgres_test

import (
	"context"
	"net/url"
	"sync"
	"testing"

	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// Instances starting together all grant the serving role its privileges;
// PostgreSQL fails concurrent GRANTs on one object ("tuple concurrently
// updated") unless they take turns.
func TestGrantAppRoleFromManyInstancesAtOnce(t *testing.T) {
	ownerURL := pgtest.New(t)
	appURL := pgtest.NewRole(t, ownerURL)
	u, _ := url.Parse(appURL)
	owner := pgtest.NewPoolFor(t, ownerURL)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = postgres.GrantAppRole(context.Background(), owner, u.User.Username()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("grant %d: %v", i, err)
		}
	}
}
