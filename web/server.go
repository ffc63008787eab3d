// Package web is the portal's HTTP layer: routing, middleware, sessions and
// the handlers that turn requests into calls on the domain packages.
package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/passkeys"
	"github.com/healthnet/secureportal/internal/practices"
	"github.com/healthnet/secureportal/static"
)

// Server holds what every handler needs. Fields are explicit dependencies,
// set once in New; handlers never reach for globals.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	sessions *scs.SessionManager
	assets   *static.Assets
	metrics  *Metrics
	accounts *accounts.Service
	messages *messaging.Service
	// practices is nil when the portal runs without them (tests of other
	// parts); /practice then answers not found.
	practices *practices.Service
	audit     audit.Log
	keys      KeyAdmin
	// rateLimits counts requests to the doors per client IP (limitDoors).
	rateLimits RateLimiter
	readiness  Readiness
	delivery   DeliveryAdmin
	drafts     DraftStore
	// passkeys runs the WebAuthn ceremonies; nil when PORTAL_BASE_URL's
	// host is an IP address, which cannot be a relying party.
	passkeys *passkeys.Relier
	// draining: the instance is stopping (PORTAL_DRAIN_DELAY); /readyz
	// says 503 and every response closes its connection.
	draining atomic.Bool
}

// Services are what the handlers call: the domain services, and the few
// stores of the HTTP layer's own (sessions, rate limits, readiness), each
// behind an interface defined here so that web never knows which database
// holds them.
type Services struct {
	Accounts  *accounts.Service
	Messages  *messaging.Service
	Practices *practices.Service
	Audit     audit.Log
	Keys      KeyAdmin
	// Sessions stores browser sessions; instances that share it share
	// sign-ins.
	Sessions   scs.Store
	RateLimits RateLimiter
	Readiness  Readiness
	// Delivery decides per mail domain and keeps the admins' policies.
	Delivery DeliveryAdmin
	// Drafts holds a message posted after its writer's session ended
	// (nil: such a post is lost, as before issue 15).
	Drafts DraftStore
}

// DraftStore holds a message's form, sealed, for a few minutes after its
// writer's session ended (postgres.Drafts).
type DraftStore interface {
	// Hold seals d and its files (each at most maxFileBytes) for ttl.
	Hold(ctx context.Context, d messaging.Draft, files messaging.Uploads, maxFileBytes int64, ttl time.Duration) (token string, err error)
	// Take gives the draft back once; its files become userID's for keep.
	Take(ctx context.Context, token, formPath string, userID int64, keep time.Duration) (messaging.Draft, bool, error)
	// Kept are userID's kept files of the form at formPath among ids.
	Kept(ctx context.Context, userID int64, formPath string, ids []string) ([]messaging.KeptFile, error)
	OpenKept(ctx context.Context, userID int64, id string) (io.ReadCloser, error)
	// Release destroys kept files once their message is sent.
	Release(ctx context.Context, userID int64, ids []string) error
}

// RateLimiter counts requests per key in a sliding minute shared by every
// instance.
type RateLimiter interface {
	// Allow records one request for key at now and reports whether it is
	// within perMinute.
	Allow(ctx context.Context, key string, perMinute int, now time.Time) (bool, error)
}

// Readiness says whether this instance can serve: nil, or the reason not
// (the database unreachable, its schema behind the binary).
type Readiness interface {
	Ready(ctx context.Context) error
}

// KeyAdmin is what the keys page needs: the KEK versions with how many data
// keys each wraps, and rotation.
type KeyAdmin interface {
	Versions(ctx context.Context) ([]KeyVersion, error)
	Rotate(ctx context.Context, actorID int64, ip, reason string) (uint32, error)
}

// KeyVersion is one KEK version on the keys page.
type KeyVersion struct {
	Version uint32
	State   string
	Created time.Time
	DEKs    int64
	Current bool
}

// New wires a Server. metrics may be shared with a separate metrics listener;
// nil gets a fresh registry.
func New(cfg *config.Config, log *slog.Logger, metrics *Metrics, svc Services) *Server {
	if metrics == nil {
		metrics = NewMetrics()
	}
	s := &Server{
		cfg:        cfg,
		log:        log,
		assets:     static.New(),
		metrics:    metrics,
		accounts:   svc.Accounts,
		messages:   svc.Messages,
		practices:  svc.Practices,
		drafts:     svc.Drafts,
		audit:      svc.Audit,
		keys:       svc.Keys,
		rateLimits: svc.RateLimits,
		readiness:  svc.Readiness,
		delivery:   svc.Delivery,
	}
	s.sessions = newSessionManager(cfg, svc.Sessions, s.sessionStoreFailed)
	if rp, err := passkeys.New(cfg.BaseURL, cfg.Org.Name+" Secure Messaging"); err != nil {
		log.Warn("passkeys are off: PORTAL_BASE_URL must name the portal by a domain name, not an IP address", "base_url", cfg.BaseURL.String())
	} else {
		s.passkeys = rp
	}
	return s
}

// newSessionManager configures scs explicitly: its defaults (24 h lifetime,
// no idle timeout, a plain "session" cookie, raw tokens in the store) do not
// meet DESIGN.md §6. failed answers a request whose session the store could
// not load or save.
func newSessionManager(cfg *config.Config, store scs.Store, failed func(http.ResponseWriter, *http.Request, error)) *scs.SessionManager {
	sm := scs.New()
	// The idle timeout is the portal's own, not scs's: scs would rewrite the
	// session row on every request to move its expiry, a database write per
	// page view. Activity is saved at most every idleTouch (recordActivity),
	// and idleExpiry gives each saved row an expiry one idle period after
	// the save: the session stops working then, and SweepExpired deletes it.
	sm.Store = idleExpiry{Store: store, idle: cfg.SessionIdle}
	sm.Codec = sessionCodec{}
	sm.Lifetime = cfg.SessionLifetime
	// A stolen database dump must not yield usable session cookies.
	sm.HashTokenInStore = true
	sm.Cookie.Name = "session"
	if cfg.SecureCookies() {
		// __Host- makes the browser refuse the cookie unless it is Secure,
		// host-only and Path=/, so a sibling subdomain cannot plant one.
		sm.Cookie.Name = "__Host-session"
	}
	sm.Cookie.Secure = cfg.SecureCookies()
	sm.Cookie.HttpOnly = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/"
	// Shared clinic computers: the cookie dies with the browser.
	sm.Cookie.Persist = false
	// scs's own answer is a bare "Internal Server Error" in plain text.
	sm.ErrorFunc = failed
	return sm
}

// httpServer builds the net/http server. Headers must arrive within
// ReadHeaderTimeout (which also bounds a TLS handshake); there is no fixed
// ReadTimeout or WriteTimeout, which would cut a long upload or download
// however steadily it flows: boundRequests gives each request deadlines that
// move while its bytes keep a minimum rate.
func (s *Server) httpServer(h http.Handler) *http.Server {
	return &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s.boundRequests(h),
		ReadHeaderTimeout: cmp.Or(s.cfg.Limits.ReadHeaderTimeout, 10*time.Second),
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsProfile(),
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// closeWhenDraining asks the client (the balancer) to close each
// connection after its response once the instance is draining.
func (s *Server) closeWhenDraining(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.draining.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Serve listens on ln until ctx is cancelled, then stops accepting new
// connections and waits (up to the configured timeout) for in-flight requests
// to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	return s.serve(ctx, ln, s.Handler())
}

func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := s.httpServer(s.closeWhenDraining(h))
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	limited := s.limitConns(ln)
	srv.ConnState = limited.connState
	errc := make(chan error, 1)
	go func() {
		var err error
		if s.cfg.ServesTLS() {
			err = srv.ServeTLS(limited, s.cfg.TLSCert, s.cfg.TLSKey)
		} else {
			err = srv.Serve(limited)
		}
		errc <- err
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("web: serve: %w", err)
	case <-ctx.Done():
	}
	if d := s.cfg.DrainDelay; d > 0 {
		// A balancer's health check sees 503 and stops sending new
		// requests here; those that still come are served, each on a
		// connection closed after its response, so no request is ever
		// sent on a connection this instance is about to drop.
		s.draining.Store(true)
		s.log.Info("draining: /readyz answers 503 before the listener closes", "delay", d)
		select {
		case <-time.After(d):
		case err := <-errc:
			return fmt.Errorf("web: serve: %w", err)
		}
	}
	s.log.Info("shutting down: finishing in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("web: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web: serve: %w", err)
	}
	return nil
}
