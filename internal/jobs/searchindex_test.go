package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/jobs"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The indexing job gives every new subject, message and user its tokens;
// a run that meets its time limit stops without failing, and the next
// one carries on.
func TestSearchIndexJobIndexesEverythingAcrossRuns(t *testing.T) {
	ctx := context.Background()
	pool, kr, log := jobsWorld(t)
	queue, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log}) // inserts only
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewMessagingStore(pool, postgres.NewDataKeys(pool, kr, 4, log), queue, postgres.MessagingLimits{MaxFileBytes: 1 << 20, MaxFiles: 3})
	var staffID int64
	if err := pool.QueryRow(ctx, `INSERT INTO users (email, display_name, role, status, password_hash) VALUES ('rep@plan.example', 'Rep', 'staff', 'active', 'not a real hash') RETURNING id`).Scan(&staffID); err != nil {
		t.Fatal(err)
	}
	svc := messaging.NewService(store)
	send := func(n int) {
		for i := range n {
			if _, err := svc.StartToProvider(ctx, messaging.Viewer{UserID: staffID, Staff: true, IP: "192.0.2.1"},
				fmt.Sprintf("dr%d@clinic.example", i), "Claim review", "Please check the claim.", 0, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	pending := func() int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM threads WHERE search_tokens IS NULL)
			+ (SELECT count(*) FROM messages WHERE search_tokens IS NULL) + (SELECT count(*) FROM users WHERE search_tokens IS NULL)`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	send(3)
	hurried := &jobs.SearchIndexWorker{Index: store, Limits: jobs.Limits{RescueAfter: time.Minute, Batch: time.Nanosecond}, Log: log}
	if err := hurried.Work(ctx, &river.Job[jobs.SearchIndexArgs]{}); err != nil {
		t.Errorf("a run out of time failed: %v; want it to leave the rest to the next", err)
	}
	if n := pending(); n != 3+3+4 {
		t.Fatalf("%d rows pending after a run with no time, want all 10", n)
	}
	worker := &jobs.SearchIndexWorker{Index: store, Log: log}
	if err := worker.Work(ctx, &river.Job[jobs.SearchIndexArgs]{}); err != nil {
		t.Fatal(err)
	}
	if n := pending(); n != 0 {
		t.Errorf("%d rows pending after a run, want none", n)
	}
}
