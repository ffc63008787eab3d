package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// Two instances behind a balancer share one count: the limit does not
// multiply with the number of instances.
func TestRateLimitIsSharedByInstances(t *testing.T) {
	url := pgtest.New(t)
	a := postgres.NewRateLimits(pgtest.NewPoolFor(t, url))
	b := postgres.NewRateLimits(pgtest.NewPoolFor(t, url))
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 9, 0, 10, 0, time.UTC)
	for i, l := range []*postgres.RateLimits{a, b, a, b} {
		if ok, err := l.Allow(ctx, "doors:192.0.2.7", 4, now); err != nil || !ok {
			t.Fatalf("request %d of 4 refused: %v", i+1, err)
		}
	}
	if ok, _ := a.Allow(ctx, "doors:192.0.2.7", 4, now); ok {
		t.Error("a 5th request, split over two instances, passed a limit of 4")
	}
	if ok, _ := b.Allow(ctx, "doors:198.51.100.9", 4, now); !ok {
		t.Error("another client was refused")
	}
}

// A burst at the end of one minute still counts at the start of the next
// (sliding window), and fades as that minute goes by.
func TestRateLimitSlidesAcrossMinutes(t *testing.T) {
	pool := pgtest.NewPool(t)
	l := postgres.NewRateLimits(pool)
	ctx := context.Background()
	key := "doors:192.0.2.8"
	end := time.Date(2026, 11, 28, 9, 0, 59, 0, time.UTC)
	for range 10 {
		l.Allow(ctx, key, 10, end) // 10 hits in the last second of 9:00
	}
	if ok, _ := l.Allow(ctx, key, 10, end.Add(2*time.Second)); ok {
		t.Error("just after the minute turned, a fixed window would allow 10 more; the sliding window must not")
	}
	if ok, _ := l.Allow(ctx, key, 10, end.Add(61*time.Second)); !ok {
		t.Error("a minute after the burst, the client is still refused")
	}

	// Counts from 9:00 and 9:01 cannot matter at 9:03 and are swept; 9:02's
	// still weighs on 9:03.
	if err := l.Sweep(ctx, end.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var windows []time.Time
	rows, _ := pool.Query(ctx, `SELECT window_start FROM rate_limits WHERE key = $1 ORDER BY window_start`, key)
	for rows.Next() {
		var w time.Time
		rows.Scan(&w)
		windows = append(windows, w.UTC())
	}
	if len(windows) != 1 || !windows[0].Equal(time.Date(2026, 11, 28, 9, 2, 0, 0, time.UTC)) {
		t.Errorf("windows left after the sweep at 9:03: %v, want only 9:02", windows)
	}
}
