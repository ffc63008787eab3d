package main

import (
	"math"
	"slices"
	"time"
)

// series is what one endpoint measured: every latency, the error count and
// the first error's text.
type series struct {
	latencies []time.Duration
	errors    int
	first     string
}

func (s *series) fail(what string) {
	if s.errors == 0 {
		s.first = what
	}
	s.errors++
}

// merge returns s with o added (s may be nil).
func (s *series) merge(o *series) *series {
	if s == nil {
		s = &series{}
	}
	if s.errors == 0 {
		s.first = o.first
	}
	s.errors += o.errors
	s.latencies = append(s.latencies, o.latencies...)
	return s
}

// quantile returns the q-quantile (nearest rank) of sorted latencies.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

// summary is one row of the table.
type summary struct {
	name                string
	conc                int
	requests, errors    int
	rate                float64 // requests per second
	p50, p95, p99, peak time.Duration
	first               string
}

func (s *series) summarize(name string, conc int, took time.Duration) summary {
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	return summary{name: name, conc: conc, requests: len(l), errors: s.errors, rate: float64(len(l)) / took.Seconds(),
		p50: quantile(l, 0.50), p95: quantile(l, 0.95), p99: quantile(l, 0.99), peak: quantile(l, 1), first: s.first}
}
