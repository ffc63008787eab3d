package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// searchDatabase is dropped and created afresh by every search bench.
const searchDatabase = "portal_search_bench"

// searchCase is one search the bench times. full: it matches fewer
// threads than a page, so it reads every thread in scope (the worst case).
type searchCase struct {
	name, text string
	titlesOnly bool
	full       bool
}

// cmdSearchBench is issue 14's search benchmark (make bench-search): one
// team whose two representatives share -threads threads, seeded and
// sealed as the portal seals, then each kind of search timed in-process
// through the messaging store (the same call GET /staff?q= makes), with
// the decryption floor beside it: the same records opened on every core
// with no SQL at all.
func cmdSearchBench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen search-bench", flag.ContinueOnError)
	portalBin := fs.String("portal", "", "the portal binary (for its migrations)")
	threads := fs.Int("threads", 50000, "threads in the one team")
	runs := fs.Int("runs", 10, "times each search is run")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	server := getenv("PORTAL_BENCH_SERVER_URL")
	if *portalBin == "" || server == "" || *threads < 1 || *runs < 1 {
		return fmt.Errorf("%w: search-bench needs -portal and PORTAL_BENCH_SERVER_URL", errUsage)
	}
	dir, err := os.MkdirTemp("", "loadgen-search-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, _, err := benchPortalDB(ctx, *portalBin, server, searchDatabase, dir, "127.0.0.1:9") // no mail is sent
	if err != nil {
		return err
	}
	defer db.close()
	// File names are searched, their bytes are not: few and small files
	// keep the seeding short.
	pop := population{Providers: max(1, *threads/10), Staff: 2, Teams: 1, Threads: *threads, Messages: *threads * 5, Attachments: 0.02, Seed: 1}
	if err := seed(ctx, db.pool, db.keyring, pop, seedOptions{sealers: runtime.GOMAXPROCS(0), writers: 2, threadsPerBatch: 500}, stdout); err != nil {
		return err
	}
	var staffID int64
	if err := db.pool.QueryRow(ctx, `SELECT id FROM users WHERE email = $1`, staffEmail(0)).Scan(&staffID); err != nil {
		return fmt.Errorf("search-bench: seeded representative: %w", err)
	}
	viewer := messaging.Viewer{UserID: staffID, Staff: true, IP: "127.0.0.1"}
	keys := postgres.NewDataKeys(db.pool, db.keyring, dekCacheSize, nil)
	// No time limit: the bench measures what a whole search costs.
	store := postgres.NewMessagingStore(db.pool, keys, nil, postgres.MessagingLimits{SearchTime: time.Hour})
	limited := postgres.NewMessagingStore(db.pool, keys, nil, postgres.MessagingLimits{SearchTime: 2 * time.Second})

	titleFloor, textFloor, err := decryptionFloors(ctx, db)
	if err != nil {
		return err
	}
	cases := []searchCase{
		{"subject, common word", "authorization", true, false},
		{"subject, no match", "zzqx", true, true},
		{"provider address", providerEmail(pop.Providers - 1), true, true},
		{"text, common word", "reprocessed", false, false},
		{"text, no match", "zzqx", false, true},
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(stdout, "\nsearch-bench: %d threads, %d messages in one team, as %s; %d runs each, %d cores\n",
		pop.Threads, pop.Messages, staffEmail(0), *runs, runtime.GOMAXPROCS(0))
	fmt.Fprintln(tw, "search\tin\tfound\tthreads searched\tp50\tp95\tfloor\tfloor/p50\t")
	for _, c := range cases {
		q, err := messaging.ParseQuery(c.text, c.titlesOnly)
		if err != nil {
			return err
		}
		var times []time.Duration
		var last messaging.SearchResult
		for range *runs {
			start := time.Now()
			if last, err = store.Search(ctx, viewer, messaging.Page{Limit: 25}, q); err != nil {
				return fmt.Errorf("search %q: %w", c.text, err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		in, floor := "everything", textFloor
		if c.titlesOnly {
			in, floor = "titles", titleFloor
		}
		floorCol, ratio := "-", "-"
		if c.full {
			floorCol, ratio = ms(floor), fmt.Sprintf("%.2f", floor.Seconds()/quantile(times, 0.5).Seconds())
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t\n", c.name, in, len(last.Threads), last.Searched,
			ms(quantile(times, 0.5)), ms(quantile(times, 0.95)), floorCol, ratio)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// What a representative gets at the portal's default limit (2 s).
	q, _ := messaging.ParseQuery("zzqx", false)
	start := time.Now()
	res, err := limited.Search(ctx, viewer, messaging.Page{Limit: 25}, q)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "with PORTAL_SEARCH_TIME_LIMIT=2s, a text search with no match answered in %s after %d of %d threads (partial: %v)\n",
		ms(time.Since(start)), res.Searched, pop.Threads, res.Partial)
	fmt.Fprintf(stdout, "floor: every subject (titles) or every subject, message and file name (everything) of the team opened on %d goroutines from memory, no SQL\n",
		runtime.GOMAXPROCS(0))
	return nil
}

// decryptionFloors time opening, with the records already in memory, the
// subjects of every thread (titles) and those plus every message body and
// file name (everything), on as many goroutines as cores: what a search
// that reads everything cannot go below.
func decryptionFloors(ctx context.Context, db portalDB) (titles, everything time.Duration, err error) {
	type sealed struct {
		keyID, kind, owner string
		version            uint32
		wrapped, ct        []byte
		bind               envelope.Binding
	}
	read := func(sql string, seal func(threadID, id string) (postgres.Owner, envelope.Binding)) ([]sealed, error) {
		rows, err := db.pool.Query(ctx, sql)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []sealed
		for rows.Next() {
			var s sealed
			var threadID, id string
			var version int64
			if err := rows.Scan(&threadID, &id, &s.ct, &s.keyID, &s.kind, &s.owner, &version, &s.wrapped); err != nil {
				return nil, err
			}
			_, s.bind = seal(threadID, id)
			s.version = uint32(version)
			out = append(out, s)
		}
		return out, rows.Err()
	}
	subjects, err := read(`SELECT t.id::text, t.id::text, t.subject_ct, dk.id::text, dk.owner_kind, dk.owner_id, dk.kek_version, dk.wrapped
		FROM threads t JOIN data_keys dk ON dk.id = t.subject_key`, func(threadID, _ string) (postgres.Owner, envelope.Binding) { return postgres.SubjectSeal(threadID) })
	if err != nil {
		return 0, 0, fmt.Errorf("floor: subjects: %w", err)
	}
	bodies, err := read(`SELECT m.thread_id::text, m.id::text, m.body_ct, dk.id::text, dk.owner_kind, dk.owner_id, dk.kek_version, dk.wrapped
		FROM messages m JOIN data_keys dk ON dk.id = m.body_key`, postgres.BodySeal)
	if err != nil {
		return 0, 0, fmt.Errorf("floor: bodies: %w", err)
	}
	names, err := read(`SELECT m.thread_id::text, a.id::text, a.name_ct, dk.id::text, dk.owner_kind, dk.owner_id, dk.kek_version, dk.wrapped
		FROM attachments a JOIN messages m ON m.id = a.message_id JOIN data_keys dk ON dk.id = a.name_key`, postgres.AttachmentNameSeal)
	if err != nil {
		return 0, 0, fmt.Errorf("floor: file names: %w", err)
	}
	open := func(recs []sealed) (time.Duration, error) {
		start := time.Now()
		workers := runtime.GOMAXPROCS(0)
		per := (len(recs) + workers - 1) / workers
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		for lo := 0; lo < len(recs); lo += per {
			wg.Go(func() {
				for _, r := range recs[lo:min(lo+per, len(recs))] {
					dek, err := db.keyring.Unwrap(r.version, envelope.WrapAAD(r.keyID, r.kind, r.owner), r.wrapped)
					if err == nil {
						_, err = envelope.Open(dek, r.bind, r.ct)
					}
					if err != nil {
						mu.Lock()
						firstErr = err
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(start), firstErr
	}
	if titles, err = open(subjects); err != nil {
		return 0, 0, fmt.Errorf("floor: %w", err)
	}
	everything, err = open(slices.Concat(subjects, bodies, names))
	return titles, everything, err
}
