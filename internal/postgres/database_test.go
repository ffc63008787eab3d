package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The sweep removes what has expired and keeps what can still count: a live
// session and the current minute's rate-limit window.
func TestSweepExpiredKeepsLiveSessionsAndCounts(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 9, 30, 20, 0, time.UTC)
	for token, expiry := range map[string]time.Time{"expired": now.Add(-time.Second), "live": now.Add(time.Minute)} {
		if _, err := pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry) VALUES ($1, '\x00', $2)`, token, expiry); err != nil {
			t.Fatal(err)
		}
	}
	limits := postgres.NewRateLimits(pool)
	for _, at := range []time.Time{now.Add(-5 * time.Minute), now} {
		if _, err := limits.Allow(ctx, "doors:192.0.2.1", 10, at); err != nil {
			t.Fatal(err)
		}
	}

	if err := postgres.NewDatabase(pool).SweepExpired(ctx, now); err != nil {
		t.Fatal(err)
	}

	var sessions []string
	rows, _ := pool.Query(ctx, `SELECT token FROM sessions`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		sessions = append(sessions, s)
	}
	if len(sessions) != 1 || sessions[0] != "live" {
		t.Errorf("sessions after the sweep: %v, want only the live one", sessions)
	}
	var windows int
	pool.QueryRow(ctx, `SELECT count(*) FROM rate_limits`).Scan(&windows)
	if windows != 1 {
		t.Errorf("rate-limit windows after the sweep: %d, want the current one only", windows)
	}
}

// Readiness names what is missing in words fit for a public page, and keeps
// the cause for the log.
func TestReadyNamesWhatIsMissing(t *testing.T) {
	pool := pgtest.NewPool(t)
	db := postgres.NewDatabase(pool)
	ctx := context.Background()
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("migrated database not ready: %v", err)
	}
	if _, err := pool.Exec(ctx, "DELETE FROM goose_db_version WHERE version_id > 0"); err != nil {
		t.Fatal(err)
	}
	err := db.Ready(ctx)
	var r interface{ Reason() string }
	if !errors.As(err, &r) || r.Reason() != "database migrations pending" || !errors.Is(err, postgres.ErrMigrationsPending) {
		t.Errorf("unmigrated: %v", err)
	}
	pool.Close()
	err = db.Ready(ctx)
	if !errors.As(err, &r) || r.Reason() != "database unreachable" {
		t.Errorf("closed pool: %v", err)
	}
}

// The job counts group River's table by kind and state.
func TestJobCountsGroupByKindAndState(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	for _, state := range []string{"available", "available", "completed"} {
		if _, err := pool.Exec(ctx, `INSERT INTO river_job (kind, args, state, max_attempts, finalized_at)
			VALUES ('probe', '{}', $1::river_job_state, 1, CASE WHEN $1 = 'completed' THEN now() END)`, state); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := postgres.NewDatabase(pool).JobCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, c := range counts {
		got[c.Kind+"/"+c.State] = c.Count
	}
	if got["probe/available"] != 2 || got["probe/completed"] != 1 || len(got) != 2 {
		t.Errorf("job counts %v, want probe/available 2 and probe/completed 1", got)
	}
}
