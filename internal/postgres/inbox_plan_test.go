package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The staff inbox's statement is planned once and its plan reused: pgx
// prepares it per connection, and PostgreSQL reuses a generic plan only
// when it can cost one, which a LIMIT sent as a parameter prevents (every
// page was planned again, most of the page's time at 1M messages; issue
// 12, docs/PERFORMANCE.md). Read from pg_prepared_statements on the one
// connection the pages ran on, for "All" and for "Unread". ("Unread" used
// to count each candidate thread's messages against the reader's receipts;
// its generic plan was then costed close to its custom ones and reused in
// only about half of the runs on this archive. Since its counts are kept,
// migrations/0026_thread_readers.sql, it is reused in every run.)
func TestStaffInboxReusesOnePlan(t *testing.T) {
	f := newStoreFixture(t)
	s, p := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive)
	team := f.team("Claims", s)
	f.threadToProvider(s, p, "own")
	f.reply(asProvider(p), f.threadToTeam(p, team, "to the team"), "more")
	// An archive behind them, as the plan has after a few years (older,
	// under keys that no longer exist: shown as withdrawn if reached).
	// PostgreSQL plans for the rows it expects, so the plan is chosen
	// here as it is at scale only with tables of some size.
	if _, err := f.pool.Exec(f.ctx, `
		WITH old AS (
			INSERT INTO threads (id, provider_id, staff_id, team_id, subject_key, subject_ct, created_at, last_message_at, last_sender_id)
			SELECT gen_random_uuid(), $2, CASE WHEN i % 4 = 0 THEN $1::bigint END, CASE WHEN i % 4 <> 0 THEN $3::bigint END,
				gen_random_uuid(), '\x00', now() - make_interval(hours => i), now() - make_interval(hours => i), $2
			FROM generate_series(1, 20000) i
			RETURNING id, last_message_at)
		INSERT INTO messages (id, thread_id, sender_id, body_key, body_ct, created_at)
		SELECT gen_random_uuid(), id, $2, gen_random_uuid(), '\x00', last_message_at - make_interval(mins => k)
		FROM old, generate_series(0, 2) k`, s.ID, p.ID, team); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(f.ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}

	cfg := f.pool.Config()
	cfg.MaxConns = 1
	one, err := pgxpool.NewWithConfig(f.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	store := postgres.NewMessagingStore(one, f.keys, f.jobs, postgres.MessagingLimits{})
	const pages = 12 // PostgreSQL weighs a generic plan from the sixth execution on
	for _, filter := range []messaging.Filter{messaging.FilterAll, messaging.FilterUnread} {
		for range pages {
			if list, _, err := store.Inbox(f.ctx, asStaff(s), messaging.Page{Limit: 25, Filter: filter}); err != nil || len(list) == 0 {
				t.Fatalf("%s: %d threads, %v", filter, len(list), err)
			}
		}
	}
	rows, err := one.Query(f.ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE '%FROM threads t%team_members m CROSS JOIN LATERAL%' AND statement NOT LIKE '%pg_prepared_statements%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var stmt string
		var generic, custom int64
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		seen++
		if custom > 5 || generic < pages-5 {
			t.Errorf("staff inbox statement: %d generic and %d custom plans over %d pages, want the generic plan from the sixth on\n%.200s", generic, custom, pages, stmt)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != 2 {
		t.Errorf("%d staff inbox statements prepared on the connection, want 2 (All, Unread)", seen)
	}
}
