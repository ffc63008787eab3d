package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A mark is found by its job id on any attempt, a second mark keeps the
// first, and pruning drops only the marks of jobs River has deleted.
func TestMailSentMarksByJobAndPrunesWithTheJob(t *testing.T) {
	f := newStoreFixture(t)
	sent := postgres.NewMailSent(f.pool)
	t.Cleanup(sent.Close)
	if _, ok, err := sent.SentBy(f.ctx, 41); err != nil || ok {
		t.Fatalf("unmarked job: sent %v, err %v", ok, err)
	}
	// A job River still holds (any state) and one it has deleted.
	var live int64
	if err := f.pool.QueryRow(f.ctx, `INSERT INTO river_job (args, kind, max_attempts, state) VALUES ('{}', 'message_notification', 12, 'running') RETURNING id`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	gone := live + 1000
	for _, id := range []int64{live, gone} {
		if err := sent.MarkSent(f.ctx, id, "notification"); err != nil {
			t.Fatal(err)
		}
	}
	if err := sent.MarkSent(f.ctx, live, "link"); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	if kind, ok, err := sent.SentBy(f.ctx, live); err != nil || !ok || kind != "notification" {
		t.Fatalf("marked job: kind %q sent %v err %v, want the first mark", kind, ok, err)
	}
	if err := sent.MarkSent(f.ctx, live+1, "phi: the patient's name"); err == nil {
		t.Error("a free-text kind was stored: the table takes known kinds only")
	}
	n, err := sent.PruneMailSent(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("pruned %d (err %v), want the one mark whose job is gone", n, err)
	}
	if _, ok, _ := sent.SentBy(f.ctx, live); !ok {
		t.Error("the mark of a job River still holds was pruned")
	}
	if _, ok, _ := sent.SentBy(f.ctx, gone); ok {
		t.Error("the mark of a deleted job is still there")
	}
}

// A mark does not wait for the pool: with every pooled connection taken (an
// upload storm holds them all), an accepted email is still recorded at
// once, since until it is a crash sends the email again
// (faults.TestCrashWithRepliesInFlight). After Close it goes through the
// pool.
func TestMailSentMarksWhileEveryPooledConnectionIsTaken(t *testing.T) {
	f := newStoreFixture(t)
	sent := postgres.NewMailSent(f.pool)
	t.Cleanup(sent.Close)
	var held []*pgxpool.Conn
	release := func() {
		for _, c := range held {
			c.Release()
		}
		held = nil
	}
	defer release() // before the pool closes: it waits for them
	for range f.pool.Config().MaxConns {
		c, err := f.pool.Acquire(f.ctx)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 5*time.Second)
	defer cancel()
	if _, ok, err := sent.SentBy(ctx, 7); err != nil || ok {
		t.Fatalf("check with the pool taken: sent %v, err %v", ok, err)
	}
	if err := sent.MarkSent(ctx, 7, "notification"); err != nil {
		t.Fatalf("mark with the pool taken: %v", err)
	}
	release()
	sent.Close()
	if err := sent.MarkSent(f.ctx, 8, "notification"); err != nil {
		t.Fatalf("mark after Close: %v", err)
	}
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM mail_sent WHERE job_id IN (7, 8)`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d of the 2 marks recorded (err %v)", n, err)
	}
}

// The job lookups of tables a burst fills from empty (mail_sent,
// message_deliveries) are planned at each call, never kept as a prepared
// statement: a plan made while the table was empty scans all of it, and a
// kept one stayed that way on its connection while the table grew
// (docs/PERFORMANCE.md, "Notifications: 500 a second").
func TestJobLookupsAreNotKeptAsPreparedStatements(t *testing.T) {
	f := newStoreFixture(t)
	sent := postgres.NewMailSent(f.pool)
	t.Cleanup(sent.Close)
	deliveries := postgres.NewDeliveryStore(f.pool)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	for range 8 { // pgx prepares a statement on first use; PostgreSQL keeps a generic plan after five
		if _, _, err := sent.SentBy(f.ctx, 7); err != nil {
			t.Fatal(err)
		}
		if _, _, err := deliveries.DeliveryOf(f.ctx, "00000000-0000-0000-0000-000000000000", dr.ID); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		pool *pgxpool.Pool
		like string
	}{{"SentBy", sent.MarkPool(), "%FROM mail_sent WHERE job_id%"}, {"DeliveryOf", f.pool, "%FROM message_deliveries d%WHERE d.message_id%"}} {
		conns := c.pool.AcquireAllIdle(f.ctx)
		if len(conns) == 0 {
			t.Fatalf("%s: no idle connection to look at", c.name)
		}
		for _, conn := range conns {
			var kept int
			err := conn.QueryRow(f.ctx, `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE $1`, c.like).Scan(&kept)
			conn.Release()
			if err != nil {
				t.Fatal(err)
			}
			if kept != 0 {
				t.Errorf("%s is kept as a prepared statement on a connection (%d), so its plan is too", c.name, kept)
			}
		}
	}
}
