package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// BlobGarbageArgs starts a run that deletes the objects listed for
// deletion: those of shredded streams, and uploads that never committed.
type BlobGarbageArgs struct{}

func (BlobGarbageArgs) Kind() string { return "blob_garbage" }

// BlobCollector deletes up to batch listed objects (postgres.DataKeys).
type BlobCollector interface {
	CollectBlobGarbage(ctx context.Context, batch int) (int, error)
}

// BlobGarbageWorker deletes in batches until nothing is due. A delete the
// bucket refuses fails the run; the objects stay listed and the next run
// (a minute later) tries again. A shredded stream's object is unreadable
// meanwhile: its key is gone.
type BlobGarbageWorker struct {
	river.WorkerDefaults[BlobGarbageArgs]
	Blobs  BlobCollector
	Limits Limits
	Log    *slog.Logger
}

func (w *BlobGarbageWorker) Timeout(*river.Job[BlobGarbageArgs]) time.Duration {
	return w.Limits.orDefault().Batch
}

func (w *BlobGarbageWorker) Work(ctx context.Context, job *river.Job[BlobGarbageArgs]) error {
	total := 0
	for {
		n, err := w.Blobs.CollectBlobGarbage(ctx, 100)
		total += n
		if err != nil {
			w.Log.WarnContext(ctx, "blob garbage: a delete failed; the next run tries again", "deleted", total, "err", err)
			return err
		}
		if n < 100 {
			break
		}
	}
	if total > 0 {
		w.Log.InfoContext(ctx, "blob garbage run", "deleted", total)
	}
	return nil
}
