package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/mail"
	"net/smtp"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/messaging"
)

// notifyResult is one notification burst: n jobs queued at once for the
// running portal's workers, the time until the last one completed, and
// what the sink received.
type notifyResult struct {
	queued, delivered, duplicates, lost int
	took                                time.Duration
	floorRate                           float64 // the sink's own accept rate, emails/s
	conns                               int
}

// measureNotifications queues up to n notifications of seeded staff
// messages to their providers in one transaction, as a burst of sends
// would, and waits until the running portal has sent every one to sink
// (its jobs completed). It then counts the sink's copies per recipient and
// Message-ID, and measures the floor: the same number of emails of the
// same size sent straight to a fresh sink over conns connections (the
// portal's job workers), one connection per email as the portal's mailer
// dials.
func measureNotifications(ctx context.Context, db portalDB, sink *mailcatcher.Server, n, conns int, w serverWatch) (notifyResult, error) {
	var r notifyResult
	rows, err := db.pool.Query(ctx, `
		SELECT m.id::text, t.provider_id, u.email::text FROM messages m
		JOIN threads t ON t.id = m.thread_id JOIN users u ON u.id = t.provider_id
		WHERE m.sender_id <> t.provider_id AND m.recalled_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM message_deliveries d WHERE d.message_id = m.id AND d.recipient_id = t.provider_id)
		LIMIT $1`, n)
	if err != nil {
		return r, err
	}
	var jobs []river.InsertManyParams
	owed := map[string]int{} // recipient email → notifications owed
	for rows.Next() {
		var a messaging.NotifyMessage
		var email string
		if err := rows.Scan(&a.MessageID, &a.RecipientID, &email); err != nil {
			rows.Close()
			return r, err
		}
		jobs = append(jobs, river.InsertManyParams{Args: a})
		owed[email]++
	}
	if err := rows.Err(); err != nil {
		return r, err
	}
	inserter, err := river.NewClient(riverpgxv5.New(db.pool), &river.Config{})
	if err != nil {
		return r, err
	}
	before := sink.Len()
	start := time.Now()
	if _, err := inserter.InsertMany(ctx, jobs); err != nil {
		return r, fmt.Errorf("queue notifications: %w", err)
	}
	r.queued = len(jobs)
	profiled := profileServer(ctx, w.metricsURL, w.profile, notifyProfileTime)
	if r.took, err = waitForNotifications(ctx, db, sink, before, r.queued, start); err != nil {
		return r, err
	}
	if err := profiled(); err != nil {
		return r, err
	}
	got := map[string]int{}
	ids := map[string]bool{}
	var sample []byte
	for _, m := range sink.Messages()[before:] {
		for _, to := range m.To {
			got[to]++
		}
		id := headerOf(m.Raw, "Message-Id")
		if ids[id] {
			r.duplicates++
		}
		ids[id] = true
		sample = m.Raw
	}
	for email, want := range owed {
		r.delivered += min(got[email], want)
		r.lost += max(want-got[email], 0)
	}
	if sample == nil {
		return r, nil
	}
	r.conns = conns
	r.floorRate, err = sinkAcceptRate(ctx, r.queued, conns, sample)
	return r, err
}

// notifyProfileTime is how much of a burst a CPU profile covers (from
// the moment the jobs are queued).
const notifyProfileTime = 10 * time.Second

// waitForNotifications waits until the sink holds queued more emails than
// before, and returns the time from start to then; then until no job of
// the burst is left unfinished, so that what the sink holds is final. The
// sink is counted in-process every 10 ms; the job table is read only
// every half second (a count over river_job every 20 ms took CPU from
// the workers being measured).
func waitForNotifications(ctx context.Context, db portalDB, sink *mailcatcher.Server, before, queued int, start time.Time) (time.Duration, error) {
	var took time.Duration
	lastCheck := time.Now()
	for {
		if took == 0 && sink.Len()-before >= queued {
			took = time.Since(start)
		}
		if took != 0 || time.Since(lastCheck) >= 500*time.Millisecond {
			lastCheck = time.Now()
			var left int
			if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'discarded', 'cancelled')`,
				messaging.NotifyMessage{}.Kind()).Scan(&left); err != nil {
				return 0, err
			}
			if left == 0 {
				return cmp.Or(took, time.Since(start)), nil // emails lost: the time the jobs took
			}
			if time.Since(start) > 10*time.Minute {
				return 0, fmt.Errorf("notifications: %d of %d still queued after 10 minutes", left, queued)
			}
		}
		pause := 10 * time.Millisecond
		if took != 0 {
			pause = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pause):
		}
	}
}

// sinkAcceptRate sends n copies of raw to a fresh sink over conns
// connections at once, a connection per email, and returns emails/s.
func sinkAcceptRate(ctx context.Context, n, conns int, raw []byte) (float64, error) {
	sink, err := mailcatcher.StartWithOptions("127.0.0.1:0", mailcatcher.Options{Capacity: n})
	if err != nil {
		return 0, err
	}
	defer sink.Close()
	next := make(chan struct{})
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for range conns {
		wg.Go(func() {
			for range next {
				if err := smtp.SendMail(sink.Addr(), nil, "no-reply@portal.example", []string{"floor@clinic.example"}, raw); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for range n {
		select {
		case next <- struct{}{}:
		case err := <-errs:
			close(next)
			wg.Wait()
			return 0, fmt.Errorf("sink floor: %w", err)
		case <-ctx.Done():
			close(next)
			wg.Wait()
			return 0, ctx.Err()
		}
	}
	close(next)
	wg.Wait()
	return float64(n) / time.Since(start).Seconds(), nil
}

// headerOf is the value of header name in a raw message ("" if absent).
func headerOf(raw []byte, name string) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return ""
	}
	return m.Header.Get(name)
}

func printNotifications(w io.Writer, r notifyResult) {
	if r.queued == 0 {
		return
	}
	rate := float64(r.delivered) / r.took.Seconds()
	fmt.Fprintf(w, "notifications: %d queued at once, %d delivered in %s = %.0f emails/s, %d duplicates, %d lost;"+
		" the sink alone accepts %.0f emails/s over %d connections (ratio %.2f)\n",
		r.queued, r.delivered, r.took.Round(time.Millisecond), rate, r.duplicates, r.lost, r.floorRate, r.conns, rate/r.floorRate)
}
