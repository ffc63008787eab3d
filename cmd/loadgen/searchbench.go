package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
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
// threads than a page, so without the index it reads every thread in
// scope (the worst case), and with it, every thread the index lets by.
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
	db, _, err := benchPortalDB(ctx, *portalBin, server, searchDatabase, dir, "127.0.0.1:9", false) // no mail is sent
	if err != nil {
		return err
	}
	defer db.close()
	// File names are searched, their bytes are not: few and small files
	// keep the seeding short.
	pop := population{Providers: max(1, *threads/10), Staff: 2, Teams: 1, Threads: *threads, Messages: *threads * 5, Attachments: 0.02, Seed: 1}
	opt := seedOptions{sealers: runtime.GOMAXPROCS(0), writers: 2, threadsPerBatch: 500, unindexed: true}
	if err := seed(ctx, db.pool, db.keyring, pop, opt, stdout); err != nil {
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
	subjectWord, bodyWord, err := oldestThreadWords(ctx, store, viewer, db)
	if err != nil {
		return err
	}
	cases := []searchCase{
		{"subject, common word", "authorization", true, false},
		{"subject, oldest thread's member", subjectWord, true, true},
		{"subject, no match", "zzqx", true, true},
		{"provider address", providerEmail(pop.Providers - 1), true, true},
		{"text, common word", "reprocessed", false, false},
		{"text, oldest thread's member", bodyWord, false, true},
		{"text, no match", "zzqx", false, true},
		// A common word narrows nothing (past 20,000 records the index
		// is not asked for it); the rare one beside it does.
		{"text, common word and a member", "please " + bodyWord, false, true},
		// The index's worst case: words under three letters narrow
		// nothing, so every thread is decrypted, as without the index.
		{"text, short words only", "zq", false, true},
	}
	fmt.Fprintf(stdout, "\nsearch-bench: %d threads, %d messages in one team, as %s; %d runs each, %d cores\n",
		pop.Threads, pop.Messages, staffEmail(0), *runs, runtime.GOMAXPROCS(0))
	// The same searches without the index (every thread in scope is
	// decrypted, as before issue 14's index) and with it, in one run.
	without, err := timeSearches(ctx, store, viewer, cases, *runs)
	if err != nil {
		return err
	}
	if err := indexForSearch(ctx, db.pool, db.keyring, stdout); err != nil {
		return err
	}
	if _, err := db.pool.Exec(ctx, `ANALYZE`); err != nil {
		return err
	}
	if err := printIndexSize(ctx, db, stdout); err != nil {
		return err
	}
	with, err := timeSearches(ctx, store, viewer, cases, *runs)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "search\tin\tfound\tdecrypted without index\tp50\tp95\tdecrypted with index\tp50\tp95\tp95 ratio\t")
	for i, c := range cases {
		in := "everything"
		if c.titlesOnly {
			in = "titles"
		}
		a, b := without[i], with[i]
		if a.found != b.found {
			return fmt.Errorf("search %q found %d threads without the index and %d with it", c.text, a.found, b.found)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s\t%.3f\t\n", c.name, in, a.found, a.searched, ms(a.p50), ms(a.p95),
			b.searched, ms(b.p50), ms(b.p95), b.p95.Seconds()/a.p95.Seconds())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "floor: opening every subject %s, every subject, message and file name %s (from memory, no SQL, %d goroutines)\n",
		ms(titleFloor), ms(textFloor), runtime.GOMAXPROCS(0))
	// What a representative gets at the portal's default limit (2 s).
	q, _ := messaging.ParseQuery("zq", false)
	start := time.Now()
	res, err := limited.Search(ctx, viewer, messaging.Page{Limit: 25}, q)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "with PORTAL_SEARCH_TIME_LIMIT=2s, the worst case answered in %s after %d of %d threads (partial: %v)\n",
		ms(time.Since(start)), res.Searched, pop.Threads, res.Partial)
	return nil
}

// printIndexSize says what the search index costs on disk: its GIN
// indexes and the tokens in the rows, beside the whole database.
func printIndexSize(ctx context.Context, db portalDB, out io.Writer) error {
	var gin, tokens, total int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT sum(pg_relation_size(i)) FROM unnest(ARRAY['threads_search_idx', 'messages_search_idx', 'users_search_idx']::regclass[]) i),
		(SELECT coalesce(sum(pg_column_size(search_tokens)), 0) FROM threads) + (SELECT coalesce(sum(pg_column_size(search_tokens)), 0) FROM messages)
			+ (SELECT coalesce(sum(pg_column_size(search_tokens)), 0) FROM users),
		pg_database_size(current_database())`).Scan(&gin, &tokens, &total)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "index size: %.1f MiB of GIN indexes, %.1f MiB of tokens in the rows; the database %.1f MiB\n",
		float64(gin)/(1<<20), float64(tokens)/(1<<20), float64(total)/(1<<20))
	return nil
}

// searchTimes is one case's result over its runs.
type searchTimes struct {
	found, searched int
	p50, p95        time.Duration
}

func timeSearches(ctx context.Context, store *postgres.MessagingStore, viewer messaging.Viewer, cases []searchCase, runs int) ([]searchTimes, error) {
	out := make([]searchTimes, len(cases))
	for i, c := range cases {
		q, err := messaging.ParseQuery(c.text, c.titlesOnly)
		if err != nil {
			return nil, err
		}
		var times []time.Duration
		var last messaging.SearchResult
		for range runs {
			start := time.Now()
			if last, err = store.Search(ctx, viewer, messaging.Page{Limit: 25}, q); err != nil {
				return nil, fmt.Errorf("search %q: %w", c.text, err)
			}
			times = append(times, time.Since(start))
		}
		slices.Sort(times)
		if c.full && len(last.Threads) >= 25 {
			return nil, fmt.Errorf("search %q found a page: it was meant to find fewer", c.text)
		}
		out[i] = searchTimes{found: len(last.Threads), searched: last.Searched, p50: quantile(times, 0.5), p95: quantile(times, 0.95)}
	}
	return out, nil
}

// oldestThreadWords are the member numbers of the team's oldest thread:
// the one in its subject and the one its first message begins with. Each
// is in that thread only (or in very few: they are random 8-digit
// numbers), and without an index finding it reads the whole team.
func oldestThreadWords(ctx context.Context, store *postgres.MessagingStore, viewer messaging.Viewer, db portalDB) (subject, body string, err error) {
	var id string
	if err := db.pool.QueryRow(ctx, `SELECT id::text FROM threads ORDER BY last_message_at, id LIMIT 1`).Scan(&id); err != nil {
		return "", "", err
	}
	t, err := store.Thread(ctx, viewer, id)
	if err != nil {
		return "", "", fmt.Errorf("search-bench: oldest thread: %w", err)
	}
	subjectWords, bodyWords := strings.Fields(t.Subject), strings.Fields(t.Messages[0].Body)
	if len(subjectWords) == 0 || len(bodyWords) < 3 {
		return "", "", errors.New("search-bench: the oldest thread is not as seeded")
	}
	return subjectWords[len(subjectWords)-1], strings.TrimSuffix(bodyWords[2], "."), nil
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
