package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/password"
	"github.com/healthnet/secureportal/internal/postgres"
)

// seedOptions say how hard seed works: goroutines sealing, connections
// copying, threads per transaction.
type seedOptions struct {
	sealers, writers, threadsPerBatch int
	// unindexed leaves the search index empty (the search bench times
	// searches without it first).
	unindexed bool
}

func cmdSeed(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen seed", flag.ContinueOnError)
	var pop population
	pop.flags(fs)
	opt := seedOptions{threadsPerBatch: 500}
	fs.IntVar(&opt.sealers, "sealers", runtime.GOMAXPROCS(0), "goroutines sealing content")
	fs.IntVar(&opt.writers, "writers", 2, "database connections copying rows")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	pop.scaled(set)
	if err := pop.validate(); err != nil {
		return err
	}
	db, err := openPortalDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.close()
	return seed(ctx, db.pool, db.keyring, pop, opt, stdout)
}

// seed fills a freshly migrated database with pop, and says how fast.
func seed(ctx context.Context, pool *pgxpool.Pool, kek envelope.KEKProvider, pop population, opt seedOptions, out io.Writer) error {
	start := time.Now()
	if err := refuseNonEmpty(ctx, pool); err != nil {
		return err
	}
	hasher, err := password.NewHasher(password.DefaultParams, 1)
	if err != nil {
		return err
	}
	phc, err := hasher.Hash(ctx, Password)
	if err != nil {
		return err
	}
	ppl, err := seedPeople(ctx, pool, pop, phc)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seed: %d providers, %d staff in %d teams in %s (password for all: %q)\n",
		pop.Providers, pop.Staff, pop.Teams, time.Since(start).Round(time.Millisecond), Password)

	plan := threadPlan{pop: pop, people: ppl, seal: sealer{kek: kek}, now: time.Now(), size: opt.threadsPerBatch}
	copyStart := time.Now()
	counts, err := copyThreads(ctx, pool, plan, opt, out)
	if err != nil {
		return err
	}
	took := time.Since(copyStart)
	var total int64
	for t, n := range counts {
		fmt.Fprintf(out, "seed: %-14s %9d rows\n", tables[t].name, n)
		total += n
	}
	fmt.Fprintf(out, "seed: %d threads, %d messages: %d rows in %s = %.0f rows/s, %.0f messages/s (%d sealers, %d writers)\n",
		counts[threads], counts[messages], total, took.Round(time.Millisecond), float64(total)/took.Seconds(),
		float64(counts[messages])/took.Seconds(), opt.sealers, opt.writers)
	if !opt.unindexed {
		if err := indexForSearch(ctx, pool, kek, out); err != nil {
			return err
		}
	}
	if err := vacuumFilled(ctx, pool); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	fmt.Fprintf(out, "seed: done in %s (VACUUM ANALYZE included)\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// indexForSearch gives every seeded record its search tokens, as the
// portal's indexing job would in service (a database whose archive is not
// indexed would make every search read it all), and prints the rate. Two
// runs side by side keep both PostgreSQL and the cores busy; each locks
// its own rows.
func indexForSearch(ctx context.Context, pool *pgxpool.Pool, kek envelope.KEKProvider, out io.Writer) error {
	start := time.Now()
	store := postgres.NewMessagingStore(pool, postgres.NewDataKeys(pool, kek, dekCacheSize, nil), nil, postgres.MessagingLimits{})
	var total atomic.Int64
	var g errgroup.Group
	for range 2 {
		g.Go(func() error {
			for {
				n, err := store.IndexPending(ctx, 2000)
				total.Add(int64(n))
				if err != nil || n == 0 {
					return err
				}
			}
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("index for search: %w", err)
	}
	took := time.Since(start)
	fmt.Fprintf(out, "seed: indexed %d records for search in %s = %.0f records/s\n", total.Load(), took.Round(time.Millisecond),
		float64(total.Load())/took.Seconds())
	return nil
}

// refuseNonEmpty keeps seed to fresh databases: seeding twice would mix two
// populations, and seeding a real one would be a disaster.
func refuseNonEmpty(ctx context.Context, pool *pgxpool.Pool) error {
	var users, threads int64
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM threads)`).Scan(&users, &threads); err != nil {
		return fmt.Errorf("is the database migrated (portal migrate)? %w", err)
	}
	if users > 0 || threads > 0 {
		return fmt.Errorf("the database already has %d users and %d threads: seed fills only a freshly migrated database "+
			"(create an empty one, run `portal migrate`, then seed)", users, threads)
	}
	return nil
}

// vacuumFilled runs VACUUM ANALYZE on the tables that hold rows. VACUUM as
// well as ANALYZE: a database that has lived a while has had autovacuum set
// its visibility map, so index-only scans skip the heap; freshly copied
// rows would make every plan look worse than in service.
//
// A table the seed left empty (the job queue, mail_sent,
// message_deliveries) stays unanalysed, as autovacuum leaves a table nobody
// has written to. Analysed empty, it misled the runs: PostgreSQL plans a
// lookup in a table it knows as empty as a scan of the whole table, a
// connection keeps that plan for its prepared statement while a burst of
// 10,000 notifications fills the table, and River's fetch of the next jobs
// took over 3 ms hundreds of times in a burst (a median of 14.5 ms for
// those) where it now takes about 0.5 (docs/PERFORMANCE.md, "Notifications:
// 500 a second"). A portal in service never has an empty job queue (River
// keeps a day of finished jobs and the periodic ones).
func vacuumFilled(ctx context.Context, pool *pgxpool.Pool) error {
	rows, err := pool.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c
		WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace ORDER BY 1`)
	if err != nil {
		return err
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	var filled []string
	for _, t := range tables {
		var has bool
		if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+`)`).Scan(&has); err != nil {
			return err
		}
		if has {
			filled = append(filled, t)
		}
	}
	if len(filled) == 0 {
		return nil
	}
	_, err = pool.Exec(ctx, `VACUUM ANALYZE `+strings.Join(filled, ", "))
	return err
}
