package app

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/healthnet/secureportal/internal/postgres"
)

// poolCollector reads the database pool statistics at scrape time.
type poolCollector struct{ db *postgres.Database }

var (
	poolAcquired     = prometheus.NewDesc("portal_db_pool_acquired_conns", "Connections in use.", nil, nil)
	poolIdle         = prometheus.NewDesc("portal_db_pool_idle_conns", "Idle connections.", nil, nil)
	poolTotal        = prometheus.NewDesc("portal_db_pool_total_conns", "Open connections.", nil, nil)
	poolMax          = prometheus.NewDesc("portal_db_pool_max_conns", "Maximum connections.", nil, nil)
	poolAcquires     = prometheus.NewDesc("portal_db_pool_acquires_total", "Successful connection acquisitions.", nil, nil)
	poolEmptyAcquire = prometheus.NewDesc("portal_db_pool_empty_acquires_total", "Acquisitions that had to wait for a connection.", nil, nil)
	poolAcquireWait  = prometheus.NewDesc("portal_db_pool_acquire_wait_seconds_total", "Total time spent acquiring connections.", nil, nil)
)

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolMax, poolAcquires, poolEmptyAcquire, poolAcquireWait} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.PoolStats()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(st.Acquired))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.Idle))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(st.Total))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.Max))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(st.Acquires))
	ch <- prometheus.MustNewConstMetric(poolEmptyAcquire, prometheus.CounterValue, float64(st.EmptyAcquires))
	ch <- prometheus.MustNewConstMetric(poolAcquireWait, prometheus.CounterValue, st.AcquireWait.Seconds())
}

// jobCollector reports River's queue by job kind and state at scrape time:
// a growing "available" or "retryable" count is mail not going out, and any
// "discarded" is mail River gave up on. Finished jobs are counted too, so the
// series never vanish between scrapes; River's cleaner keeps that set small
// (completed jobs for a day, cancelled and discarded for a week).
type jobCollector struct{ db *postgres.Database }

var jobsDesc = prometheus.NewDesc("portal_jobs", "Background jobs by kind and state.", []string{"kind", "state"}, nil)

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.db.JobCounts(ctx)
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n.Count), n.Kind, n.State)
	}
	if err != nil { // e.g. the timeout, part-way: the counts above are partial
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
	}
}
