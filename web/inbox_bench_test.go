package web_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// seedThreads gives provider n threads from rep, through the real store (so
// subjects are really encrypted), four writers at a time.
func seedThreads(tb testing.TB, s *site, rep messaging.Viewer, provider string, n int) {
	tb.Helper()
	var wg sync.WaitGroup
	next := make(chan int)
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for i := range next {
				_, err := s.app.Messages.StartToProvider(context.Background(), rep, provider, fmt.Sprintf("Thread %05d", i), "Body of the message.", 0, nil)
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			tb.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
}

// BenchmarkInboxAndThreadWith10kThreads measures the provider inbox (first
// page and a page deep in the history, via the keyset cursor) and a thread
// page with 10,000 threads in the database, beside the raw SQL that fetches
// the same rows, timed in the same run. The ratio is the cost of everything
// the portal adds: session, access checks, decryption, rendering, HTTP.
//
//	go test -run '^$' -bench InboxAndThread -benchtime 200x ./web/
func BenchmarkInboxAndThreadWith10kThreads(b *testing.B) {
	const threads = 10000
	s := newSite(b, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "1000000"})
	rep, _ := s.staffIn("rep.la@plan.example", "Lena", "LA")
	start := time.Now()
	seedThreads(b, s, messaging.Viewer{UserID: rep.ID, Staff: true}, "dr@clinic.example", threads)
	b.Logf("seeded %d threads in %v", threads, time.Since(start).Round(time.Millisecond))
	prov := s.browser()
	s.app.Pool.Exec(context.Background(), `UPDATE users SET status = 'active', password_hash = (SELECT password_hash FROM users WHERE id = $1), display_name = 'Dr' WHERE email = 'dr@clinic.example'`, rep.ID)
	if p := prov.login("dr@clinic.example", goodPassword); p.Status != http.StatusSeeOther {
		b.Fatalf("login %d", p.Status)
	}
	var providerID int64
	s.app.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = 'dr@clinic.example'`).Scan(&providerID)

	// A cursor ~9,000 threads deep, and one thread to open.
	var deepAt time.Time
	var deepID, oneThread string
	s.app.Pool.QueryRow(context.Background(), `SELECT last_message_at, id::text FROM threads WHERE provider_id = $1
		ORDER BY last_message_at DESC, id DESC OFFSET 9000 LIMIT 1`, providerID).Scan(&deepAt, &deepID)
	s.app.Pool.QueryRow(context.Background(), `SELECT id::text FROM threads WHERE provider_id = $1 LIMIT 1`, providerID).Scan(&oneThread)
	deepCursor := fmt.Sprintf("%d_%s", deepAt.UnixMicro(), deepID)

	rawInbox := func(cursor bool) {
		q := `SELECT t.id, t.subject_key, t.subject_ct, t.last_message_at FROM threads t WHERE t.provider_id = $1 ORDER BY t.last_message_at DESC, t.id DESC LIMIT 26`
		args := []any{providerID}
		if cursor {
			q = `SELECT t.id, t.subject_key, t.subject_ct, t.last_message_at FROM threads t WHERE t.provider_id = $1
				AND (t.last_message_at, t.id) < ($2, $3) ORDER BY t.last_message_at DESC, t.id DESC LIMIT 26`
			args = append(args, deepAt, deepID)
		}
		rows, err := s.app.Pool.Query(context.Background(), q, args...)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	}
	rawThread := func() {
		rows, err := s.app.Pool.Query(context.Background(), `SELECT m.id, m.body_key, m.body_ct, m.created_at FROM messages m WHERE m.thread_id = $1 ORDER BY m.created_at, m.id`, oneThread)
		if err != nil {
			b.Fatal(err)
		}
		for rows.Next() {
		}
		rows.Close()
	}
	cases := []struct {
		name string
		raw  func()
		path string
	}{
		{"inbox_first_page", func() { rawInbox(false) }, "/inbox"},
		{"inbox_deep_page", func() { rawInbox(true) }, "/inbox?before=" + deepCursor},
		{"thread", rawThread, "/threads/" + oneThread},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if p := prov.get(c.path); p.Status != http.StatusOK {
				b.Fatalf("%s: %d", c.path, p.Status)
			}
			rawStart := time.Now()
			for range b.N {
				c.raw()
			}
			raw := time.Since(rawStart) / time.Duration(b.N)
			b.ResetTimer()
			for range b.N {
				if p := prov.get(c.path); p.Status != http.StatusOK {
					b.Fatalf("%s: %d", c.path, p.Status)
				}
			}
			b.StopTimer()
			page := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(raw.Microseconds()), "raw_sql_µs")
			b.ReportMetric(float64(page.Microseconds()), "page_µs")
			b.ReportMetric(float64(page)/float64(raw), "page/raw")
		})
	}
}

// BenchmarkSignedInPages is one provider's inbox (10 threads) and a thread
// page, one client, through the whole portal over loopback HTTP: session,
// user, page, rendering. ns/op and allocs/op are the portal's cost per
// page plus the database's; compare two trees with benchstat
// (docs/PERFORMANCE.md):
//
//	go test -run '^$' -bench SignedInPages -benchmem -benchtime 2000x -count 6 ./web/
func BenchmarkSignedInPages(b *testing.B) {
	s := newSite(b, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "1000000"})
	rep, _ := s.staffIn("rep.la@plan.example", "Lena", "LA")
	seedThreads(b, s, messaging.Viewer{UserID: rep.ID, Staff: true}, "dr@clinic.example", 10)
	s.app.Pool.Exec(context.Background(), `UPDATE users SET status = 'active', password_hash = (SELECT password_hash FROM users WHERE id = $1), display_name = 'Dr' WHERE email = 'dr@clinic.example'`, rep.ID)
	prov := s.browser()
	if p := prov.login("dr@clinic.example", goodPassword); p.Status != http.StatusSeeOther {
		b.Fatalf("login %d", p.Status)
	}
	var oneThread string
	s.app.Pool.QueryRow(context.Background(), `SELECT id::text FROM threads LIMIT 1`).Scan(&oneThread)
	for _, path := range []string{"/inbox", "/threads/" + oneThread} {
		b.Run(strings.Trim(path[:min(len(path), 8)], "/"), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if p := prov.get(path); p.Status != http.StatusOK {
					b.Fatalf("%s: %d", path, p.Status)
				}
			}
		})
	}
}
