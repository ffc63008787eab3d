package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Database answers the operational questions about the portal's database
// that are not any one domain's: is it reachable and migrated, how busy is the
// pool and the job queue, and which expired rows can go. Consumers (the web
// server, the metrics, the composition root) each see it through a small
// interface of their own.
type Database struct{ pool *pgxpool.Pool }

// NewDatabase returns the operational view of pool.
func NewDatabase(pool *pgxpool.Pool) *Database { return &Database{pool: pool} }

// ErrMigrationsPending says the schema lags what this binary expects.
var ErrMigrationsPending = errors.New("postgres: schema behind the binary")

// notReady is why the instance cannot serve: Reason is safe for a public
// readiness page, the cause is for the log.
type notReady struct {
	reason string
	cause  error
}

func (e notReady) Error() string  { return "postgres: " + e.reason + ": " + e.cause.Error() }
func (e notReady) Unwrap() error  { return e.cause }
func (e notReady) Reason() string { return e.reason }

// Ready returns nil when the database answers and its schema is current;
// otherwise an error with a Reason ("database unreachable", "database
// migrations pending").
func (d *Database) Ready(ctx context.Context) error {
	if err := d.pool.Ping(ctx); err != nil {
		return notReady{"database unreachable", err}
	}
	pending, err := MigrationsPending(ctx, d.pool)
	if err == nil && pending {
		err = ErrMigrationsPending
	}
	if err != nil {
		return notReady{"database migrations pending", err}
	}
	return nil
}

// SweepExpired deletes expired session rows and rate-limit counts too old to
// matter, so those tables hold only what can still count.
func (d *Database) SweepExpired(ctx context.Context, now time.Time) error {
	if _, err := d.pool.Exec(ctx, `DELETE FROM sessions WHERE expiry < $1`, now); err != nil {
		return wrap("sweep expired sessions", err)
	}
	return NewRateLimits(d.pool).Sweep(ctx, now)
}

// JobCount is how many background jobs of one kind are in one state.
type JobCount struct {
	Kind, State string
	Count       int64
}

// JobCounts counts River's jobs by kind and state. A failure part-way (a
// timeout) returns the counts read so far with the error.
func (d *Database) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := d.pool.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY kind, state`)
	if err != nil {
		return nil, wrap("count jobs", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Kind, &c.State, &c.Count); err != nil {
			return out, wrap("count jobs", err)
		}
		out = append(out, c)
	}
	return out, wrap("count jobs", rows.Err())
}

// PoolStats is a snapshot of the connection pool for the metrics.
type PoolStats struct {
	Acquired, Idle, Total, Max int32
	Acquires, EmptyAcquires    int64
	AcquireWait                time.Duration
}

// PoolStats reads the pool's counters.
func (d *Database) PoolStats() PoolStats {
	st := d.pool.Stat()
	return PoolStats{Acquired: st.AcquiredConns(), Idle: st.IdleConns(), Total: st.TotalConns(), Max: st.MaxConns(),
		Acquires: st.AcquireCount(), EmptyAcquires: st.EmptyAcquireCount(), AcquireWait: st.AcquireDuration()}
}

// LiveThreadOf returns the thread of a message that is neither recalled nor
// gone: the notification job mails a link to it, or nothing.
func (s *MessagingStore) LiveThreadOf(ctx context.Context, messageID string) (string, error) {
	var threadID string
	err := s.pool.QueryRow(ctx, `SELECT thread_id::text FROM messages WHERE id = $1 AND recalled_at IS NULL`, messageID).Scan(&threadID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", messaging.ErrNotFound
	}
	return threadID, wrap("live thread of message", err)
}
