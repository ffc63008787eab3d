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
// did.
type PurgeWorker struct {
	river.WorkerDefaults[PurgeArgs]
	Store     Purger
	Retention time.Duration
	Log       *slog.Logger
}

func (w *PurgeWorker) Work(ctx context.Context, job *river.Job[PurgeArgs]) error {
	r, err := w.Store.PurgeExpired(ctx, w.Retention, time.Now(), 100)
	if err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "retention run", "messages", r.Messages, "threads", r.Threads, "keys_destroyed", r.Keys)
	return nil
}
