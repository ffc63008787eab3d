package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/jobs"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A rewrap enqueued as a River job moves every data key to the current KEK
// version, batch by batch, exactly as the command does.
func TestRewrapJobMovesEveryKeyToTheCurrentVersion(t *testing.T) {
	ctx := context.Background()
	pool, kr, log := jobsWorld(t)
	keys := postgres.NewDataKeys(pool, kr, 4, log)
	const n = 7
	for i := range n {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			b := envelope.Binding{Purpose: "test", Table: "t", Column: "c", RowID: fmt.Sprint(i)}
			_, _, err := keys.SealRecord(ctx, tx, postgres.Owner{Kind: "test", ID: fmt.Sprint(i)}, b, []byte("x"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kr.Rotate(); err != nil {
		t.Fatal(err)
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &jobs.RewrapWorker{Keys: keys, Log: log})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 1}},
		Workers: workers,
		Logger:  log,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer client.Stop(ctx)

	res, err := client.Insert(ctx, jobs.RewrapArgs{BatchSize: 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Kind != river.EventKindJobCompleted || ev.Job.ID != res.Job.ID {
			t.Fatalf("job event %s for job %d (errors %v); want completion of %d", ev.Kind, ev.Job.ID, ev.Job.Errors, res.Job.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("rewrap job did not finish within 30s")
	}

	status, err := keys.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 1 || status[0].Version != 2 || status[0].Count != n {
		t.Fatalf("status after the job = %+v; want all %d keys on version 2", status, n)
	}
}

// jobsWorld is a fresh database, a keyring and a quiet log for a job test.
func jobsWorld(t *testing.T) (*pgxpool.Pool, *envelope.Keyring, *slog.Logger) {
	t.Helper()
	pool := pgtest.NewPool(t)
	kr, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "portal.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	return pool, kr, slog.New(slog.DiscardHandler)
}
