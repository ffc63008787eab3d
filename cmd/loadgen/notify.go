package main

import (
	"bytes"
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
func measureNotifications(ctx context.Context, db portalDB, sink *mailcatcher.Server, n, conns int) (notifyResult, error) {
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
	before := len(sink.Messages())
	start := time.Now()
	if _, err := inserter.InsertMany(ctx, jobs); err != nil {
		return r, fmt.Errorf("queue notifications: %w", err)
	}
	r.queued = len(jobs)
	for {
		var left int
		if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state NOT IN ('completed', 'discarded', 'cancelled')`,
			messaging.NotifyMessage{}.Kind()).Scan(&left); err != nil {
			return r, err
		}
		if left == 0 {
			break
		}
		if time.Since(start) > 10*time.Minute {
			return r, fmt.Errorf("notifications: %d of %d still queued after 10 minutes", left, r.queued)
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.took = time.Since(start)
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
	rate := float64(r.delivered) / r.took.Seconds()
	fmt.Fprintf(w, "notifications: %d queued at once, %d delivered in %s = %.0f emails/s, %d duplicates, %d lost;"+
		" the sink alone accepts %.0f emails/s over %d connections (ratio %.2f)\n",
		r.queued, r.delivered, r.took.Round(time.Millisecond), rate, r.duplicates, r.lost, r.floorRate, r.conns, rate/r.floorRate)
}
