package main

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/password"
	"github.com/healthnet/secureportal/internal/postgres"
)

// floors are what the work behind each endpoint costs with no HTTP, no
// session and no rendering: the same store calls the handler makes, for the
// same kind of user, timed in a loop on one goroutine (per call). Sign-in's
// floor is one argon2id verification at the portal's parameters; hashRate
// is how many of them this machine does per second on every core.
type floors struct {
	perCall  map[string]time.Duration
	hashRate float64
}

// dekCacheSize is app.New's: the floor's DEK cache is as large as the
// portal's (and warm after the first call, as it is for a busy portal).
const dekCacheSize = 1024

// floorTime is how long each floor is measured.
const floorTime = time.Second

// measureFloors measures the floors of the scenarios in m, as virtual user
// 0 sees them (provider 1, representative 1).
func measureFloors(ctx context.Context, db portalDB, m mix) (floors, error) {
	f := floors{perCall: map[string]time.Duration{}}
	keys := postgres.NewDataKeys(db.pool, db.keyring, dekCacheSize, nil)
	msgs := messaging.NewService(postgres.NewMessagingStore(db.pool, keys, nil, postgres.MessagingLimits{}))
	var providerID, staffID int64
	if err := db.pool.QueryRow(ctx, `SELECT (SELECT id FROM users WHERE email = $1), (SELECT id FROM users WHERE email = $2)`,
		providerEmail(0), staffEmail(0)).Scan(&providerID, &staffID); err != nil {
		return f, fmt.Errorf("floors: seeded users: %w", err)
	}
	pv := messaging.Viewer{UserID: providerID, IP: "127.0.0.1"}
	sv := messaging.Viewer{UserID: staffID, Staff: true, IP: "127.0.0.1"}
	list, _, err := msgs.Inbox(ctx, pv, messaging.Page{Limit: 25})
	if err != nil || len(list) == 0 {
		return f, fmt.Errorf("floors: inbox of %s: %d threads, %v", providerEmail(0), len(list), err)
	}
	calls := map[string]func(i int) error{
		"inbox": func(int) error { _, _, err := msgs.Inbox(ctx, pv, messaging.Page{Limit: 25}); return err },
		"thread": func(i int) error {
			_, err := msgs.Thread(ctx, pv, list[i%len(list)].ID)
			return err
		},
		"staff": func(i int) error {
			_, _, err := msgs.Inbox(ctx, sv, messaging.Page{Filter: staffFilters[i%len(staffFilters)], Limit: 25})
			return err
		},
	}
	for name, call := range calls {
		if m.has(name) {
			if f.perCall[name], err = timeCalls(call); err != nil {
				return f, fmt.Errorf("floors: %s: %w", name, err)
			}
		}
	}
	if m.has("signin") {
		err = f.measureHashing(ctx)
	}
	return f, err
}

// measureHashing times one argon2id verification, then counts how many
// run per second on every core at once.
func (f *floors) measureHashing(ctx context.Context) error {
	cores := runtime.GOMAXPROCS(0)
	h, err := password.NewHasher(password.DefaultParams, cores)
	if err != nil {
		return err
	}
	phc, err := h.Hash(ctx, Password)
	if err != nil {
		return err
	}
	verify := func(int) error { _, _, err := h.Verify(ctx, Password, phc); return err }
	if f.perCall["signin"], err = timeCalls(verify); err != nil {
		return err
	}
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range cores {
		wg.Go(func() {
			for time.Since(start) < floorTime && verify(0) == nil {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	f.hashRate = float64(n.Load()) / time.Since(start).Seconds()
	return nil
}

// timeCalls runs call for floorTime (and at least 10 times) and returns the
// mean time per call. The first call is not counted: it warms caches.
func timeCalls(call func(i int) error) (time.Duration, error) {
	if err := call(0); err != nil {
		return 0, err
	}
	start := time.Now()
	n := 0
	for ; n < 10 || time.Since(start) < floorTime; n++ {
		if err := call(n); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}
