package jobs_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/healthnet/secureportal/internal/jobs"
)

// Every job's time limit is shorter than River's rescue delay
// (PORTAL_JOB_RESCUE_AFTER, which config bounds to 4s..24h).
func TestJobLimitsStayUnderTheRescueDelay(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{4 * time.Second, 8 * time.Second, 2 * time.Minute, time.Hour, 24 * time.Hour} {
		l := jobs.NewLimits(d)
		for name, limit := range map[string]time.Duration{"mail": l.Mail, "delivery": l.Delivery, "batch": l.Batch} {
			if limit <= 0 || limit >= l.RescueAfter {
				t.Errorf("%s: %s limit %s not under the rescue delay %s", d, name, limit, l.RescueAfter)
			}
		}
	}
}

// slowRewrap rewraps one batch, then takes forever over the next.
type slowRewrap struct{}

func (slowRewrap) Rewrap(ctx context.Context, _ int, progress func(done, remaining int64)) (int64, error) {
	progress(100, 1000)
	<-ctx.Done()
	return 100, ctx.Err()
}

// A rewrap still making progress when its time is nearly up snoozes (no
// attempt spent) instead of failing or running past the rescue delay.
func TestRewrapStintEndsInASnoozeWhenItMadeProgress(t *testing.T) {
	t.Parallel()
	w := &jobs.RewrapWorker{Keys: slowRewrap{}, Limits: jobs.NewLimits(4 * time.Second), Log: slog.New(slog.DiscardHandler)}
	start := time.Now()
	err := w.Work(context.Background(), &river.Job[jobs.RewrapArgs]{JobRow: &rivertype.JobRow{ID: 1, Attempt: 1}})
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) {
		t.Fatalf("err = %v, want a snooze", err)
	}
	if took := time.Since(start); took >= w.Timeout(nil) {
		t.Errorf("the stint took %s, not under the job's limit %s", took, w.Timeout(nil))
	}
}
