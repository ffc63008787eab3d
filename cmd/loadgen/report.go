package main

import (
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"
)

// runResult is one measured run: a row per endpoint and what the server
// spent meanwhile.
type runResult struct {
	label string // "alone" (one scenario) or "mix"
	conc  int
	took  time.Duration
	rows  []summary
	use   serverUse
}

func newRunResult(measured map[string]*series, d driver, took time.Duration, use serverUse) runResult {
	r := runResult{label: "mix", conc: d.conc, took: took, use: use}
	if len(d.mix) == 1 {
		r.label = "alone"
	}
	for _, s := range scenarios { // the table's order
		if m := measured[s.name]; m != nil {
			r.rows = append(r.rows, m.summarize(s.name, d.conc, took))
		}
	}
	return r
}

// printTable prints every run's rows, the ratio of each endpoint's floor
// to its median latency (1.0 = the page costs what its SQL and decryption
// cost; 0.33 = three times that), the first error of each failing
// endpoint and sign-in's rate against raw argon2id.
func printTable(out io.Writer, runs []runResult, f floors) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint\trun\tc\trequests\treq/s\tp50\tp95\tp99\tmax\terrors\tfloor\tfloor/p50\tserver CPU\tpeak RSS\t")
	for _, run := range runs {
		for i, s := range run.rows {
			floor, ratio := "-", "-"
			if d, ok := f.perCall[s.name]; ok {
				floor = ms(d)
				if s.p50 > 0 {
					ratio = fmt.Sprintf("%.2f", d.Seconds()/s.p50.Seconds())
				}
			}
			cpu, rss := "", ""
			if i == 0 && run.use.peakRSS > 0 {
				cpu = fmt.Sprintf("%.1fs/%.0fs", run.use.cpuSeconds, run.took.Seconds())
				rss = fmt.Sprintf("%.0f MiB", run.use.peakRSS/(1<<20))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t\n", s.name, run.label, s.conc, s.requests, s.rate,
				ms(s.p50), ms(s.p95), ms(s.p99), ms(s.peak), s.errors, floor, ratio, cpu, rss)
		}
	}
	tw.Flush()
	for _, run := range runs {
		for _, s := range run.rows {
			if s.errors > 0 {
				fmt.Fprintf(out, "first error of %s (c=%d): %s\n", s.name, s.conc, s.first)
			}
			if s.name == "signin" && f.hashRate > 0 {
				fmt.Fprintf(out, "sign-in at c=%d: %.1f/s = %.0f%% of raw argon2id on this machine (%.1f verifications/s on %d cores, one takes %s)\n",
					s.conc, s.rate, 100*s.rate/f.hashRate, f.hashRate, runtime.GOMAXPROCS(0), ms(f.perCall["signin"]))
			}
		}
	}
	fmt.Fprintln(out, "floor: the handler's store calls in-process on one goroutine (sign-in: one argon2id verification); floor/p50: 1.00 = at the floor")
	fmt.Fprintln(out, "server CPU: the portal process's CPU seconds over the run's seconds (from its metrics listener)")
}

// ms prints a latency in milliseconds, with precision where it matters.
func ms(d time.Duration) string {
	v := d.Seconds() * 1000
	for _, p := range []struct {
		below float64
		f     string
	}{{1, "%.3fms"}, {10, "%.2fms"}, {100, "%.1fms"}} {
		if v < p.below {
			return fmt.Sprintf(p.f, v)
		}
	}
	return fmt.Sprintf("%.0fms", v)
}

func (r runResult) has(name string) bool {
	for _, s := range r.rows {
		if s.name == name && s.requests > 0 {
			return true
		}
	}
	return false
}
