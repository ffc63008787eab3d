package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/mailcatcher"
)

// benchDatabase is dropped and created afresh by every bench, and kept
// afterwards for EXPLAIN.
const benchDatabase = "portal_bench"

// benchRuns are what make bench measures, each alone: every page with one
// client (against its floor) and with 32, sign-in at 32, replies at 16
// (issue 12's targets), then the default mix.
var benchRuns = []struct {
	spec string
	conc int
}{
	{"inbox", 1}, {"inbox", 32}, {"thread", 1}, {"thread", 32}, {"staff", 1}, {"staff", 32},
	{"signin", 32}, {"reply", 16}, {defaultMix, 32},
}

// notifyBurst is how many notifications bench queues at once (issue 12:
// 10,000; fewer when the population has fewer staff messages).
const notifyBurst = 10000

// cmdBench is make bench: a fresh database, a small population, the real
// portal (`portal serve`, built by make) with a mail sink, every run of
// benchRuns, one table; then everything stops.
func cmdBench(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen bench", flag.ContinueOnError)
	portalBin := fs.String("portal", "", "the portal binary")
	messages := fs.Int("messages", 10000, "messages to seed")
	dur := fs.Duration("d", 5*time.Second, "how long each run measures")
	profiles := fs.String("profile", "", "write a CPU profile of the portal for each run into this directory (RUN-cN.pprof)")
	only := fs.String("only", "", "measure only this: a scenario's runs (inbox, thread, staff, signin, reply), mix, or notify")
	keep := fs.String("keep", "", "keep the keyring in this directory and the database after the run; a later run with the same directory and -messages measures that database again without seeding")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	server := getenv("PORTAL_BENCH_SERVER_URL")
	if *portalBin == "" || server == "" {
		return fmt.Errorf("%w: bench needs -portal and PORTAL_BENCH_SERVER_URL", errUsage)
	}
	start := time.Now()
	dir, err := benchDir(*keep)
	if err != nil {
		return err
	}
	if *keep == "" {
		defer os.RemoveAll(dir)
	}
	// Room for the replies' notifications and the notification burst.
	sink, err := mailcatcher.StartWithOptions("127.0.0.1:0", mailcatcher.Options{Capacity: 50000})
	if err != nil {
		return err
	}
	defer sink.Close()
	pop := population{Staff: 300, Teams: 10, Messages: *messages, Attachments: 0.05, Seed: 1}
	pop.scaled(map[string]bool{"messages": true})
	reuse := *keep != "" && seededBefore(ctx, dir, server, benchDatabase, pop)
	db, env, err := benchPortalDB(ctx, *portalBin, server, benchDatabase, dir, sink.Addr(), reuse)
	if err != nil {
		return err
	}
	defer db.close()
	if reuse {
		fmt.Fprintf(stdout, "bench: measuring the database %s seeded before (%d messages; kept in %s)\n", benchDatabase, pop.Messages, dir)
	} else {
		if err := forgetSeed(dir); err != nil { // a half-seeded database is not reused
			return err
		}
		if err := seed(ctx, db.pool, db.keyring, pop, seedOptions{sealers: 2, writers: 2, threadsPerBatch: 500}, stdout); err != nil {
			return err
		}
		if *keep != "" {
			if err := rememberSeed(ctx, dir, server, benchDatabase, pop); err != nil {
				return err
			}
		}
	}
	portal, err := startPortal(ctx, *portalBin, env, dir)
	if err != nil {
		return err
	}
	defer portal.stop()
	runs, f, err := benchMeasure(ctx, db, env, *dur, *profiles, *only)
	if err != nil {
		return fmt.Errorf("%w (portal log: %s)", err, portal.logTail())
	}
	var notified notifyResult
	if *only == "" || *only == "notify" {
		w := serverWatch{metricsURL: "http://" + env["PORTAL_METRICS_ADDR"]}
		if *profiles != "" {
			w.profile = filepath.Join(*profiles, "notify.pprof")
		}
		if notified, err = measureNotifications(ctx, db, sink, notifyBurst, app.JobWorkers, w); err != nil {
			return fmt.Errorf("%w (portal log: %s)", err, portal.logTail())
		}
	}
	fmt.Fprintf(stdout, "\nbench: %d messages in %d threads, %d providers; each run %s; database %s kept for EXPLAIN\n",
		pop.Messages, pop.Threads, pop.Providers, *dur, benchDatabase)
	printTable(stdout, runs, f)
	printNotifications(stdout, notified)
	if notified.lost > 0 || notified.duplicates > 0 {
		return fmt.Errorf("notifications: %d lost, %d sent twice", notified.lost, notified.duplicates)
	}
	fmt.Fprintf(stdout, "bench: done in %s\n", time.Since(start).Round(time.Second))
	return failures(runs...)
}

// benchMeasure measures the floors, then every bench run (or those of
// scenario only), each with its CPU profile in profiles if that names a
// directory.
func benchMeasure(ctx context.Context, db portalDB, env map[string]string, dur time.Duration, profiles, only string) ([]runResult, floors, error) {
	all, _ := parseMix(defaultMix)
	f, err := measureFloors(ctx, db, all)
	if err != nil {
		return nil, f, err
	}
	if profiles != "" {
		if err := os.MkdirAll(profiles, 0o755); err != nil {
			return nil, f, err
		}
	}
	var runs []runResult
	for _, r := range benchRuns {
		if only != "" && profileName(r.spec) != only {
			continue
		}
		m, err := parseMix(r.spec)
		if err != nil {
			return nil, f, err
		}
		d, err := newDriver(ctx, db.pool, env["PORTAL_BASE_URL"], r.conc, dur, m)
		if err != nil {
			return nil, f, err
		}
		w := serverWatch{metricsURL: "http://" + env["PORTAL_METRICS_ADDR"]}
		if profiles != "" {
			w.profile = filepath.Join(profiles, fmt.Sprintf("%s-c%d.pprof", profileName(r.spec), r.conc))
		}
		res, err := measureRun(ctx, d, w)
		if err != nil {
			return nil, f, fmt.Errorf("%s at c=%d: %w", r.spec, r.conc, err)
		}
		runs = append(runs, res)
	}
	return runs, f, nil
}

// benchPortalDB is how every bench starts: database name dropped and
// created afresh on server (unless reuse), a keyring in dir (made if it is
// not there), the portal's configuration
// (benchEnv, its mail to smtpAddr), the schema migrated by the portal
// binary itself, and the database opened as the portal opens it.
func benchPortalDB(ctx context.Context, portalBin, server, name, dir, smtpAddr string, reuse bool) (portalDB, map[string]string, error) {
	dbURL, err := databaseURL(server, name)
	if err != nil {
		return portalDB{}, nil, err
	}
	if !reuse {
		if err := freshDatabase(ctx, server, name); err != nil {
			return portalDB{}, nil, err
		}
	}
	env, err := benchEnv(dir, dbURL, smtpAddr)
	if err != nil {
		return portalDB{}, nil, err
	}
	if err := runPortal(ctx, portalBin, env, "migrate"); err != nil {
		return portalDB{}, nil, err
	}
	db, err := openPortalDB(ctx, func(k string) string { return env[k] })
	return db, env, err
}

// freshDatabase drops and creates database name on the server at
// serverURL.
func freshDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("PORTAL_BENCH_SERVER_URL: %w", err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{"DROP DATABASE IF EXISTS " + name + " WITH (FORCE)", "CREATE DATABASE " + name} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
	}
	return nil
}

// databaseURL is the URL of database name on the server at serverURL.
func databaseURL(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// benchEnv is the portal's configuration for a load run: loopback only,
// mail to the sink, and the per-IP limits raised, because every virtual
// user comes from 127.0.0.1 (docs/PERFORMANCE.md).
func benchEnv(dir, dbURL, smtpAddr string) (map[string]string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	metrics, err := freeAddr()
	if err != nil {
		return nil, err
	}
	keyring := filepath.Join(dir, "portal.keyring")
	if _, err := os.Stat(keyring); errors.Is(err, os.ErrNotExist) {
		if _, err := envelope.InitKeyring(keyring); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return map[string]string{
		"PORTAL_DATABASE_URL":          dbURL,
		"PORTAL_KEYRING":               keyring,
		"PORTAL_ADDR":                  addr,
		"PORTAL_BASE_URL":              "http://" + addr,
		"PORTAL_METRICS_ADDR":          metrics,
		"PORTAL_SMTP_URL":              "smtp://" + smtpAddr + "?tls=none",
		"PORTAL_RATE_LIMIT_PER_MINUTE": "1000000",
		"PORTAL_MAX_CONNS_PER_IP":      "1024",
		// The load mix signs representatives in with the password: an
		// app's code works once per 30 s, which no load run can supply.
		"PORTAL_MFA_STAFF": "optional",
	}, nil
}

func environ(env map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}
