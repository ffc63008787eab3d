package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// RateLimits counts requests per key (a client IP and the doors it knocks
// on) in PostgreSQL, so the limit holds across every instance of the portal.
//
// It is a sliding-window counter: the count of the current minute plus the
// previous minute's count weighted by how much of it still lies within the
// last 60 seconds. Unlike a fixed window, a burst straddling a minute
// boundary cannot get twice the limit through. Refused requests count too,
// so a client that keeps hammering stays refused.
type RateLimits struct{ pool *pgxpool.Pool }

// NewRateLimits returns the counter over pool.
func NewRateLimits(pool *pgxpool.Pool) *RateLimits { return &RateLimits{pool: pool} }

// Allow records one request for key at now and reports whether it is within
// perMinute.
func (l *RateLimits) Allow(ctx context.Context, key string, perMinute int, now time.Time) (bool, error) {
	window := now.UTC().Truncate(time.Minute)
	var current, previous int
	err := l.pool.QueryRow(ctx, `
		WITH hit AS (
			INSERT INTO rate_limits (key, window_start, hits) VALUES ($1, $2, 1)
			ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_limits.hits + 1
			RETURNING hits)
		SELECT hit.hits, coalesce((SELECT hits FROM rate_limits WHERE key = $1 AND window_start = $3), 0) FROM hit`,
		key, window, window.Add(-time.Minute)).Scan(&current, &previous)
	if err != nil {
		return false, wrap("rate limit", err)
	}
	stillInView := 1 - float64(now.Sub(window))/float64(time.Minute)
	return float64(previous)*stillInView+float64(current) <= float64(perMinute), nil
}

// Sweep deletes counts too old to matter.
func (l *RateLimits) Sweep(ctx context.Context, now time.Time) error {
	_, err := l.pool.Exec(ctx, `DELETE FROM rate_limits WHERE window_start < $1`, now.UTC().Truncate(time.Minute).Add(-time.Minute))
	return wrap("sweep rate limits", err)
}
