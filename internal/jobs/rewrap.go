// Package jobs holds the River workers: sending mail, rewrapping keys, purging expired messages.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
)

// RewrapArgs asks for every data key to be rewrapped to the current KEK
// version: the background form of `portal keys rewrap`, for deployments
// where an operator would rather enqueue the work than hold a shell open.
type RewrapArgs struct {
	// BatchSize is how many keys each transaction rewraps; 0 means the
	// store's default.
	BatchSize int `json:"batch_size"`
}

// Kind names the job in River's table.
func (RewrapArgs) Kind() string { return "rewrap_keys" }

// RewrapWorker runs RewrapArgs jobs. Rewrapping is resumable and safe to
// run concurrently with itself and with the command (FOR UPDATE SKIP
// LOCKED), so River's retry on failure simply carries on where it stopped.
//
// Each attempt works for at most Limits.Batch (shorter than River's rescue
// delay, so a crashed rewrap is taken up again within minutes); one that
// made progress when its time ran out snoozes, which costs no attempt, and
// River runs it again at once.
type RewrapWorker struct {
	river.WorkerDefaults[RewrapArgs]
	Keys   Rewrapper
	Limits Limits
	Log    *slog.Logger
}

// Timeout is River's hard limit; the work itself stops a little earlier.
func (w *RewrapWorker) Timeout(*river.Job[RewrapArgs]) time.Duration {
	return w.Limits.orDefault().Batch
}

// Rewrapper rewraps every data key not yet under the current KEK version,
// batchSize keys per transaction, telling progress after each batch.
type Rewrapper interface {
	Rewrap(ctx context.Context, batchSize int, progress func(done, remaining int64)) (int64, error)
}

// Work rewraps all keys not on the current KEK version, logging progress
// per batch (counts only).
func (w *RewrapWorker) Work(ctx context.Context, job *river.Job[RewrapArgs]) error {
	stint, cancel := context.WithTimeout(ctx, w.Limits.orDefault().Batch*9/10)
	defer cancel()
	var progressed bool
	done, err := w.Keys.Rewrap(stint, job.Args.BatchSize, func(done, remaining int64) {
		progressed = progressed || done > 0
		w.Log.Info("rewrap progress", "job_id", job.ID, "rewrapped", done, "remaining", remaining)
	})
	if err != nil && progressed && stint.Err() != nil && ctx.Err() == nil {
		w.Log.Info("rewrap stint over; carrying on", "job_id", job.ID, "rewrapped", done)
		return river.JobSnooze(0)
	}
	if err != nil {
		return fmt.Errorf("jobs: rewrap keys: %w", err)
	}
	w.Log.Info("rewrap finished", "job_id", job.ID, "rewrapped", done)
	return nil
}
