package jobs

import (
	"context"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// SearchIndexArgs starts an indexing run: the subjects, messages and
// users without search tokens get them (internal/blindindex). Until then
// they are searched by decryption, so the run only makes search faster,
// never more complete.
type SearchIndexArgs struct{}

func (SearchIndexArgs) Kind() string { return "search_index" }

// SearchIndexer indexes up to batch records of each kind that have no
// tokens and reports how many it did (postgres.MessagingStore).
type SearchIndexer interface {
	IndexPending(ctx context.Context, batch int) (int, error)
}

// SearchIndexWorker indexes in batches until nothing is left or its time
// is up; the next run carries on (each batch commits).
type SearchIndexWorker struct {
	river.WorkerDefaults[SearchIndexArgs]
	Index  SearchIndexer
	Limits Limits
	Log    *slog.Logger
}

// searchIndexBatch is how many records of each kind one transaction
// indexes: a few hundred milliseconds of decryption at most.
const searchIndexBatch = 500

func (w *SearchIndexWorker) Timeout(*river.Job[SearchIndexArgs]) time.Duration {
	return w.Limits.orDefault().Batch
}

func (w *SearchIndexWorker) Work(ctx context.Context, job *river.Job[SearchIndexArgs]) error {
	// A first run over a large archive takes longer than one job may: it
	// stops short of its limit, and the next run (a minute later) carries
	// on, since every batch commits.
	stint, cancel := context.WithTimeout(ctx, w.Limits.orDefault().Batch*9/10)
	defer cancel()
	start, total := time.Now(), 0
	for {
		n, err := w.Index.IndexPending(stint, searchIndexBatch)
		total += n
		if err != nil && stint.Err() != nil && ctx.Err() == nil {
			w.Log.InfoContext(ctx, "search index stint over; the next run carries on", "records", total)
			return nil
		}
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if total > 0 {
		w.Log.InfoContext(ctx, "search index run", "records", total, "seconds", time.Since(start).Seconds())
	}
	return nil
}
