package web

import (
	"net/http"
	"time"
)

// limitDoors allows each client IP PORTAL_RATE_LIMIT_PER_MINUTE requests a
// minute to the doors (sign-in, forgot password, emailed-link pages,
// password re-entry) against password guessing and mail flooding, and
// answers 429 with a clear page beyond that. The counts live in PostgreSQL
// (postgres.RateLimits), so the limit holds however many instances serve.
func (s *Server) limitDoors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := ClientIP(r.Context()).String()
		ok, err := s.rateLimits.Allow(r.Context(), "doors:"+ip, s.cfg.Accounts.RatePerMinute, time.Now())
		if err != nil {
			// The handler behind needs the database too and will fail
			// visibly; refusing here would add nothing but a wrong message.
			s.log.ErrorContext(r.Context(), "rate limit unavailable", "request_id", RequestID(r.Context()), "err", err)
		}
		if err == nil && !ok {
			s.log.WarnContext(r.Context(), "rate limit reached", "request_id", RequestID(r.Context()),
				"client_ip", ip, "path", redactPath(r))
			w.Header().Set("Retry-After", "60")
			s.renderError(w, r, http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}
