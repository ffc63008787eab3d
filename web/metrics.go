package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the portal's Prometheus registry. It is served on its own
// listener (PORTAL_METRICS_ADDR), never on the public port.
type Metrics struct {
	Registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	logins   *prometheus.CounterVec
	mail     *prometheus.CounterVec
}

// NewMetrics registers the HTTP, database pool and Go runtime metrics.
func NewMetrics(pool *pgxpool.Pool) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
	}
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_logins_total",
		Help: "Sign-in attempts by result (ok, failed).",
	}, []string{"result"})
	m.mail = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_mail_total",
		Help: "Emails handed to the SMTP server, by result (sent, failed).",
	}, []string{"result"})
	reg.MustRegister(m.requests, m.duration, m.logins, m.mail,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if pool != nil {
		reg.MustRegister(poolCollector{pool: pool}, jobCollector{pool: pool})
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ObserveMail counts one email handed to SMTP, or refused by it.
func (m *Metrics) ObserveMail(err error) {
	if err != nil {
		m.mail.WithLabelValues("failed").Inc()
		return
	}
	m.mail.WithLabelValues("sent").Inc()
}

func (m *Metrics) observeLogin(ok bool) {
	if ok {
		m.logins.WithLabelValues("ok").Inc()
		return
	}
	m.logins.WithLabelValues("failed").Inc()
}

// observeRequest records one request. Labels use the route pattern, never the
// raw path, so ids and tokens neither leak nor explode the label set.
func (m *Metrics) observeRequest(method, route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route, method).Observe(d.Seconds())
}

// poolCollector reads pgxpool statistics at scrape time.
type poolCollector struct{ pool *pgxpool.Pool }

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
	st := c.pool.Stat()
	ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(st.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.IdleConns()))
	ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(st.TotalConns()))
	ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.MaxConns()))
	ch <- prometheus.MustNewConstMetric(poolAcquires, prometheus.CounterValue, float64(st.AcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolEmptyAcquire, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
	ch <- prometheus.MustNewConstMetric(poolAcquireWait, prometheus.CounterValue, st.AcquireDuration().Seconds())
}

// jobCollector reports River's queue by job kind and state at scrape time:
// a growing "available" or "retryable" count is mail not going out, and any
// "discarded" is mail River gave up on. Finished jobs are counted too, so the
// series never vanish between scrapes; River's cleaner keeps that set small
// (completed jobs for a day, cancelled and discarded for a week).
type jobCollector struct{ pool *pgxpool.Pool }

var jobsDesc = prometheus.NewDesc("portal_jobs", "Background jobs by kind and state.", []string{"kind", "state"}, nil)

func (c jobCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	rows, err := c.pool.Query(ctx, `SELECT kind, state::text, count(*) FROM river_job GROUP BY kind, state`)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var kind, state string
		var n float64
		if err := rows.Scan(&kind, &state, &n); err != nil {
			ch <- prometheus.NewInvalidMetric(jobsDesc, err)
			return
		}
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, n, kind, state)
	}
	if err := rows.Err(); err != nil { // e.g. the timeout, part-way: the counts above are partial
		ch <- prometheus.NewInvalidMetric(jobsDesc, err)
	}
}
