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
type MailSent struct{ pool *pgxpool.Pool }

// NewMailSent returns the sent-mail markers over pool.
func NewMailSent(pool *pgxpool.Pool) *MailSent { return &MailSent{pool: pool} }

// SentBy says whether job jobID's email was accepted, and as which kind.
func (s *MailSent) SentBy(ctx context.Context, jobID int64) (kind string, sent bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT kind FROM mail_sent WHERE job_id = $1`, jobID).Scan(&kind)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	return kind, err == nil, wrap("mail sent", err)
}

// MarkSent records that job jobID's email was accepted. Marking twice
// keeps the first record.
func (s *MailSent) MarkSent(ctx context.Context, jobID int64, kind string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO mail_sent (job_id, kind) VALUES ($1, $2) ON CONFLICT (job_id) DO NOTHING`, jobID, kind)
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
