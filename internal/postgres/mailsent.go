package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MailSent remembers, per River job, that the mail server accepted the
// job's email (migration 0009): a job run again after a crash checks it
// before sending and ends without mailing twice. It holds job ids and a
// kind, never an address or content.
//
// The checks and marks have connections of their own (at most markConns),
// apart from the pool that serves requests: MarkSent runs right after the
// mail server's 250, and until it commits, a crash sends the email again.
// Waiting there for a pooled connection, behind every request, stretched
// those milliseconds to a few hundred under load (40 uploads holding all
// of the pool), and a kill -9 then re-sent every email in flight
// (faults.TestCrashWithRepliesInFlight). SentBy, just before sending,
// keeps one of them open for the mark.
type MailSent struct {
	pool  *pgxpool.Pool
	marks *pgxpool.Pool // pool itself if a pool of their own could not be made
}

// markConns bounds MailSent's own connections: a mark is one INSERT.
const markConns = 2

// NewMailSent returns the sent-mail markers over pool's database. Close
// them when done.
func NewMailSent(pool *pgxpool.Pool) *MailSent {
	s := &MailSent{pool: pool, marks: pool}
	cfg := pool.Config() // a copy: the same server, role and settings
	cfg.MaxConns, cfg.MinConns = markConns, 0
	if marks, err := pgxpool.NewWithConfig(context.Background(), cfg); err == nil {
		s.marks = marks
	}
	return s
}

// Close closes MailSent's own connections (pool stays open); a mark after
// Close goes through pool.
func (s *MailSent) Close() {
	if s.marks != s.pool {
		s.marks.Close()
	}
}

// SentBy says whether job jobID's email was accepted, and as which kind
// (a replanned lookup: mail_sent is pruned to nothing when idle).
func (s *MailSent) SentBy(ctx context.Context, jobID int64) (kind string, sent bool, err error) {
	err = s.marks.QueryRow(ctx, `SELECT kind FROM mail_sent WHERE job_id = $1`, replanned, jobID).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return kind, err == nil, wrap("mail sent", err)
}

// MarkSent records that job jobID's email was accepted. Marking twice
// keeps the first record.
func (s *MailSent) MarkSent(ctx context.Context, jobID int64, kind string) error {
	const mark = `INSERT INTO mail_sent (job_id, kind) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING`
	_, err := s.marks.Exec(ctx, mark, jobID, kind)
	if err != nil && s.marks != s.pool && ctx.Err() == nil {
		_, err = s.pool.Exec(ctx, mark, jobID, kind) // its own connections closed or broken: the pool's will do
	}
	return wrap("mark mail sent", err)
}

// PruneMailSent deletes the markers of jobs River no longer holds (its
// cleaner deletes a finished job after a day, a discarded one after a
// week): such a job cannot run again, so its marker protects nothing.
func (s *MailSent) PruneMailSent(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM mail_sent m WHERE NOT EXISTS (SELECT 1 FROM river_job j WHERE j.id = m.job_id)`)
	return tag.RowsAffected(), wrap("prune mail sent", err)
}
