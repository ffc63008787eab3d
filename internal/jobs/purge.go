package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/healthnet/secureportal/internal/messaging"
)

// PurgeArgs starts a retention run. It carries nothing: what expired is
// decided from the database at run time.
type PurgeArgs struct{}

func (PurgeArgs) Kind() string { return "purge_expired" }

// Purger crypto-shreds what retention says has expired, in batches of at
// most batch records per transaction.
type Purger interface {
	PurgeExpired(ctx context.Context, retention time.Duration, now time.Time, batch int) (messaging.PurgeReport, error)
}

// PurgeWorker crypto-shreds expired messages and threads and reports what it
// did. It also deletes the sent-mail marks River no longer needs.
type PurgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	Store     Purger
	Retention time.Duration
	// Sent, when set, has its marks of jobs River has deleted pruned.
	Sent SentPruner
	// Drafts, when set, has its expired drafts deleted (postgres.Drafts).
	Drafts DraftPurger
	Limits Limits
	Log    *slog.Logger
}

// SentPruner deletes the sent-mail marks of jobs River no longer holds
// (postgres.MailSent).
type SentPruner interface {
	PruneMailSent(ctx context.Context) (int64, error)
}

// DraftPurger deletes the drafts past their time, shredding their keys.
type DraftPurger interface {
	PurgeExpired(ctx context.Context) (int, error)
}

// Timeout bounds a run; what it shredded stays shredded (each batch
// commits), and the next run carries on.
func (w *PurgeWorker) Timeout(*river.Job[PurgeArgs]) time.Duration {
	return w.Limits.orDefault().Batch
}

func (w *PurgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	r, err := w.Store.PurgeExpired(ctx, w.Retention, time.Now(), 100)
	if err != nil {
		return err
	}
	var pruned int64
	if w.Sent != nil {
		if pruned, err = w.Sent.PruneMailSent(ctx); err != nil {
			return err
		}
	}
	drafts := 0
	if w.Drafts != nil {
		if drafts, err = w.Drafts.PurgeExpired(ctx); err != nil {
			return err
		}
	}
	w.Log.InfoContext(ctx, "retention run", "messages", r.Messages, "threads", r.Threads, "keys_destroyed", r.Keys, "sent_marks_pruned", pruned,
		"drafts_expired", drafts)
	return nil
}
