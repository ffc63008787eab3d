// Package faults holds the fault tests (issue 13): Go tests that build the
// real portal from ./cmd/portal, run it as a separate process against a
// fresh database (internal/pgtest) and an in-process mail sink
// (internal/mailcatcher), break it the way production breaks (kill -9 while
// it works), restart it, and check what was promised: nothing acknowledged
// is lost, nothing is sent twice. Each prints what it did and found.
//
// Run them with `make test-faults` (part of `make test`). The portal is run
// with PORTAL_JOB_RESCUE_AFTER shortened so a crashed process's jobs are
// taken up again within seconds instead of two minutes.
package faults
