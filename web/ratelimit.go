package web

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter allows each client IP a steady rate of requests with a burst of
// the same size. It guards the doors (login, forgot password, emailed-link
// pages) against password guessing and mail flooding. Limits are per
// instance; behind a load balancer the effective limit is per instance too,
// which still bounds guessing, and the per-account lockout is shared.
type ipLimiter struct {
	mu      sync.Mutex
	perMin  int
	clients map[string]*clientRate
	lastGC  time.Time
}

type clientRate struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(perMinute int) *ipLimiter {
	return &ipLimiter{perMin: perMinute, clients: map[string]*clientRate{}, lastGC: time.Now()}
}

func (l *ipLimiter) allow(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastGC) > time.Minute {
		// Forget clients idle long enough for their bucket to have refilled,
		// so the map cannot grow without bound.
		for k, c := range l.clients {
			if now.Sub(c.seen) > 2*time.Minute {
				delete(l.clients, k)
			}
		}
		l.lastGC = now
	}
	c, ok := l.clients[ip]
	if !ok {
		c = &clientRate{lim: rate.NewLimiter(rate.Limit(float64(l.perMin)/60), l.perMin)}
		l.clients[ip] = c
	}
	c.seen = now
	return c.lim.AllowN(now, 1)
}

// rateLimited answers 429 with a clear page once a client IP has used up its
// allowance for this group of routes.
func (s *Server) rateLimited(l *ipLimiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := ClientIP(r.Context()).String()
			if !l.allow(ip, time.Now()) {
				s.log.WarnContext(r.Context(), "rate limit reached", "request_id", RequestID(r.Context()),
					"client_ip", ip, "path", redactPath(r))
				w.Header().Set("Retry-After", "60")
				s.renderError(w, r, http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
