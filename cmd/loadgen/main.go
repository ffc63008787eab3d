// Command loadgen measures the portal at scale (issue 12).
//
//	loadgen seed    fill a migrated database with a realistic population,
//	                sealed exactly as the portal seals it
//	loadgen run     drive a running portal over HTTP and print, per endpoint,
//	                rates, latencies, errors and the ratio to its floor
//	loadgen bench   the whole loop on a fresh database (make bench)
//	loadgen search-bench
//	                issue 14's search at 50,000 threads in one team, against
//	                its decryption floor (make bench-search)
//
// seed and run read PORTAL_DATABASE_URL and PORTAL_KEYRING like the portal.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  loadgen seed  [-providers N] [-staff N] [-teams N] [-threads N] [-messages N] [-attachments F]
  loadgen run   -url http://127.0.0.1:8080 [-metrics http://127.0.0.1:9090] [-c 32] [-d 30s]
                [-mix signin=5,inbox=40,thread=30,reply=5,staff=20 | -scenario inbox]
  loadgen bench -portal PATH [-messages N] [-d 5s]
  loadgen search-bench -portal PATH [-threads 50000] [-runs 10]
seed and run read PORTAL_DATABASE_URL and PORTAL_KEYRING; bench and search-bench read
PORTAL_BENCH_SERVER_URL (a PostgreSQL server URL, as scripts/postgres.sh prints).`

// errUsage is a mistake on the command line: usage is printed, exit 2.
var errUsage = errors.New("loadgen: bad usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "%v\n%s\n", err, usage)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	switch args[0] {
	case "seed":
		return cmdSeed(ctx, args[1:], getenv, stdout)
	case "run":
		return cmdRun(ctx, args[1:], getenv, stdout)
	case "bench":
		return cmdBench(ctx, args[1:], getenv, stdout)
	case "search-bench":
		return cmdSearchBench(ctx, args[1:], getenv, stdout)
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
