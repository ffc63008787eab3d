package web

import (
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

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
	delivery *prometheus.CounterVec
}

// NewMetrics registers the HTTP and Go runtime metrics, and the collectors
// given (the composition root adds the database pool and job queue).
func NewMetrics(extra ...prometheus.Collector) *Metrics {
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
	m.delivery = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "portal_deliveries_total",
		Help: "Messages brought to providers, by method (tls, portal) and reason (how TLS was verified, or why the portal).",
	}, []string{"method", "reason"})
	reg.MustRegister(m.requests, m.duration, m.logins, m.mail, m.delivery,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(extra...)
	return m
}

// Handler is the operators' listener (PORTAL_METRICS_ADDR, never the public
// port): Go's profiler under /debug/pprof/, so a CPU profile of a load run
// is one command (go tool pprof http://127.0.0.1:9090/debug/pprof/profile),
// and the metrics in the Prometheus text format at every other path.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// ObserveMail counts one email handed to SMTP, or refused by it.
func (m *Metrics) ObserveMail(err error) {
	if err != nil {
		m.mail.WithLabelValues("failed").Inc()
		return
	}
	m.mail.WithLabelValues("sent").Inc()
}

// ObserveDelivery counts one message delivered to a provider.
func (m *Metrics) ObserveDelivery(method, reason string) {
	m.delivery.WithLabelValues(method, reason).Inc()
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
