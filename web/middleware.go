package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	clientIPKey
)

// RequestID returns the id the portal gave this request; it is in the log
// line, the X-Request-Id header and on error pages.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ClientIP returns the address the request came from, as far as the
// configured trusted proxies let us know it.
func ClientIP(ctx context.Context) netip.Addr {
	ip, _ := ctx.Value(clientIPKey).(netip.Addr)
	return ip
}

// requestID gives every request a fresh random id. An incoming X-Request-Id
// is not trusted: a client could otherwise make its requests look like
// someone else's in the log.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 8)
		rand.Read(b)
		id := hex.EncodeToString(b)
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// clientIP resolves the client address. X-Forwarded-For is read only when the
// connection comes from a configured trusted proxy, and then from the right:
// the rightmost address not itself a trusted proxy is the one our proxies saw.
// Anything to its left was written by the client and can be forged.
func (s *Server) clientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := clientAddr(r, s.cfg.TrustedProxies)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey, ip)))
	})
}

func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	remote, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	remote = remote.Unmap()
	if !isTrusted(remote, trusted) {
		return remote
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled header: stop at the last address we could trust
		}
		hop = hop.Unmap()
		if !isTrusted(hop, trusted) {
			return hop
		}
		remote = hop
	}
	return remote
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// observe writes one structured access-log line per request and feeds the
// request metrics. The query string is never logged (it may carry an email
// address), and path segments that are tokens are redacted.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		elapsed := time.Since(start)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		route := chi.RouteContext(r.Context()).RoutePattern()
		s.metrics.observeRequest(r.Method, route, status, elapsed)
		s.log.LogAttrs(r.Context(), levelFor(status), "request",
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", redactPath(r)),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Int("bytes", ww.BytesWritten()),
			durationMS(elapsed),
			slog.String("client_ip", ClientIP(r.Context()).String()),
		)
	})
}

// recoverPanic turns a panic into the safe 500 page. The stack goes to the
// log with the request id; the page shows only the id.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec) // the server's own signal to drop the connection
			}
			s.log.ErrorContext(r.Context(), "panic serving request",
				"request_id", RequestID(r.Context()), "panic", fmt.Sprint(rec), "stack", string(debug.Stack()))
			s.renderError(w, r, http.StatusInternalServerError)
		}()
		next.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy forbids inline script, plugins, framing and foreign
// form targets (DESIGN.md §6).
const contentSecurityPolicy = "default-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// securityHeaders sets the headers of DESIGN.md §6 on every response.
// Cache-Control defaults to no-store: pages may hold PHI and shared clinic
// computers must not keep them; static assets override it.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		h.Set("Cache-Control", "no-store")
		if s.cfg.ServesTLS() || s.cfg.SecureCookies() {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// crossOriginProtection rejects cross-site unsafe requests (CSRF) using the
// browser's Sec-Fetch-Site and Origin headers. The public base URL is trusted
// explicitly because a reverse proxy may change the Host header.
func (s *Server) crossOriginProtection(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	origin := s.cfg.BaseURL.Scheme + "://" + s.cfg.BaseURL.Host
	if err := cop.AddTrustedOrigin(origin); err != nil {
		s.log.Warn("cannot trust base URL origin for CSRF checks", "origin", origin, "err", err)
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.WarnContext(r.Context(), "cross-origin request refused", "request_id", RequestID(r.Context()),
			"method", r.Method, "route", chi.RouteContext(r.Context()).RoutePattern())
		s.renderError(w, r, http.StatusForbidden)
	}))
	return cop.Handler(next)
}

// limitBody caps request bodies so a client cannot make the server read
// without end; upload routes set their own, larger limit.
func (s *Server) limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// A body announced larger than the route takes is refused before
			// a byte of it is read.
			if r.ContentLength > n {
				w.Header().Set("Connection", "close")
				s.renderError(w, r, http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}
