package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

func cmdRun(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	url := fs.String("url", "", "the portal's base URL, e.g. http://127.0.0.1:8080")
	metrics := fs.String("metrics", "", "its metrics listener (PORTAL_METRICS_ADDR), e.g. http://127.0.0.1:9090")
	conc := fs.Int("c", 32, "virtual users")
	dur := fs.Duration("d", 30*time.Second, "how long to measure")
	spec := fs.String("mix", defaultMix, "weighted scenarios: name=weight,...")
	only := fs.String("scenario", "", "measure one scenario alone (signin, inbox, thread, reply, staff)")
	profile := fs.String("profile", "", "write the portal's CPU profile over the run to this file (needs -metrics)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *url == "" || *conc < 1 || *dur <= 0 {
		return fmt.Errorf("%w: -url is required; -c and -d must be positive", errUsage)
	}
	if *only != "" {
		*spec = *only
	}
	m, err := parseMix(*spec)
	if err != nil {
		return err
	}
	db, err := openPortalDB(ctx, getenv)
	if err != nil {
		return err
	}
	defer db.close()
	d, err := newDriver(ctx, db.pool, *url, *conc, *dur, m)
	if err != nil {
		return err
	}
	f, err := measureFloors(ctx, db, m)
	if err != nil {
		return err
	}
	res, err := measureRun(ctx, d, serverWatch{metricsURL: *metrics, profile: *profile})
	if err != nil {
		return err
	}
	printTable(stdout, []runResult{res}, f)
	return failures(res)
}

// newDriver sizes a driver to the seeded population it finds.
func newDriver(ctx context.Context, pool *pgxpool.Pool, url string, conc int, dur time.Duration, m mix) (driver, error) {
	d := driver{base: url, conc: conc, dur: dur, mix: m}
	err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE email LIKE '%@' || $1), count(*) FILTER (WHERE email LIKE '%@' || $2) FROM users`,
		providerDomain, staffDomain).Scan(&d.providers, &d.staff)
	if err == nil && (d.providers == 0 || d.staff == 0) {
		err = fmt.Errorf("no seeded providers or staff: run loadgen seed first")
	}
	return d, err
}

// serverWatch is how a run watches the portal: its metrics listener (CPU
// seconds, peak RSS) and, if profile names a file, a CPU profile of the
// measured time written there.
type serverWatch struct {
	metricsURL string
	profile    string
}

// measureRun signs the virtual users in, then drives the portal while
// watching what its process spends.
func measureRun(ctx context.Context, d driver, w serverWatch) (runResult, error) {
	users, err := d.signInAll(ctx)
	if err != nil {
		return runResult{}, err
	}
	defer users[0].transport.CloseIdleConnections() // all share it
	stop := watchServer(ctx, w.metricsURL)
	profiled := profileServer(ctx, w.metricsURL, w.profile, d.dur)
	measured, took, err := d.measure(ctx, users)
	use, werr := stop()
	perr := profiled()
	if err != nil {
		return runResult{}, err
	}
	if werr != nil {
		return runResult{}, werr
	}
	if perr != nil {
		return runResult{}, perr
	}
	return newRunResult(measured, d, took, use), nil
}

// failures makes failed requests fail the command, after the table.
func failures(runs ...runResult) error {
	n := 0
	for _, r := range runs {
		for _, s := range r.rows {
			n += s.errors
		}
	}
	if n > 0 {
		return fmt.Errorf("%d requests failed", n)
	}
	return nil
}
