package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/i18n"
)

// Session keys.
const (
	sessUserID = "user_id"
	sessEpoch  = "auth_epoch"
	// sessSeen is when the session's activity was last recorded (Unix ms):
	// the next save (idleExpiry) is due idleTouch after it.
	sessSeen = "seen_at"
)

// idleTouch is how stale sessSeen may get before a request records its
// activity again. Recording is a write of the session row, so it happens
// at most once a minute, not on every page view; the price is that a
// session can end up to that much before a full idle period (never after).
func (s *Server) idleTouch() time.Duration {
	return min(time.Minute, s.cfg.SessionIdle/15)
}

// idleExpiry is the session store with each saved row's expiry brought
// forward to one idle period after the save (never past the absolute
// lifetime scs gives): a session saved at its last recorded activity dies
// in the table when loadUser would refuse it anyway. It also passes the
// request's context through to a store that takes one, and tells a store
// that keeps it (userSessionStore) whose session it saves.
type idleExpiry struct {
	scs.Store
	idle time.Duration
}

// userSessionStore is a session store that keeps whose each session is,
// so it can read the signed-in user with the session (postgres.SessionStore).
type userSessionStore interface {
	FindCtx(ctx context.Context, token string) ([]byte, bool, error)
	CommitUser(ctx context.Context, token string, b []byte, expiry time.Time, userID int64) error
}

func (s idleExpiry) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

func (s idleExpiry) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if idleEnd := time.Now().Add(s.idle); idleEnd.Before(expiry) {
		expiry = idleEnd
	}
	us, ok := s.Store.(userSessionStore)
	if !ok {
		return s.Store.Commit(token, b, expiry)
	}
	// The values are decoded again here (a save is at most once a
	// minute per session) because scs holds the session's lock while it
	// saves: asking the manager for sessUserID would wait for ever.
	_, values, err := sessionCodec{}.Decode(b)
	if err != nil {
		return err
	}
	userID, _ := values[sessUserID].(int64)
	return us.CommitUser(ctx, token, b, expiry, userID)
}

func (s idleExpiry) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if us, ok := s.Store.(userSessionStore); ok {
		return us.FindCtx(ctx, token)
	}
	return s.Store.Find(token)
}

func (s idleExpiry) DeleteCtx(_ context.Context, token string) error { return s.Store.Delete(token) }

// Why a user was sent to the sign-in page; shown there in words.
const (
	reasonIdle      = "idle"
	reasonLifetime  = "lifetime"
	reasonChanged   = "changed"
	reasonSignedOut = "signed_out"
	reasonReset     = "reset"
	reasonSignIn    = "signin"
	reasonDraft     = "draft" // signed out with a message unsent: it is held
)

type userKey struct{}

// currentUser returns the signed-in user, if any.
func currentUser(ctx context.Context) (accounts.User, bool) {
	u, ok := ctx.Value(userKey{}).(accounts.User)
	return u, ok
}

// signedInCookie remembers, outside the session, when this browser signed in.
// It holds no secret: only a time. When a request carries it but no live
// session, the session has expired, and the sign-in page can say why
// instead of showing a bare form.
func (s *Server) signedInCookieName() string {
	if s.cfg.SecureCookies() {
		return "__Host-signed-in"
	}
	return "signed-in"
}

func (s *Server) setSignedInCookie(w http.ResponseWriter, at time.Time) {
	http.SetCookie(w, &http.Cookie{Name: s.signedInCookieName(), Value: strconv.FormatInt(at.Unix(), 10), Path: "/",
		Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSignedInCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.signedInCookieName(), Value: "", Path: "/", MaxAge: -1,
		Secure: s.cfg.SecureCookies(), HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// expiryReason tells whether a browser that once signed in lost its session
// to the idle timeout or the absolute lifetime; "" if it never signed in.
func (s *Server) expiryReason(r *http.Request) string {
	c, err := r.Cookie(s.signedInCookieName())
	if err != nil {
		return ""
	}
	at, err := strconv.ParseInt(c.Value, 10, 64)
	if err != nil {
		return ""
	}
	if time.Since(time.Unix(at, 0)) >= s.cfg.SessionLifetime {
		return reasonLifetime
	}
	return reasonIdle
}

// loadUser puts the signed-in user in the request context. The auth epoch
// is checked on every request, so a password reset, admin reset or disable
// ends every session of the account at once.
func (s *Server) loadUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.sessions.GetInt64(r.Context(), sessUserID)
		if id == 0 {
			next.ServeHTTP(w, r)
			return
		}
		s.recordActivity(r)
		u, err := s.accounts.SessionUser(r.Context(), id, s.sessions.GetInt64(r.Context(), sessEpoch))
		if errors.Is(err, accounts.ErrSessionEnded) {
			s.log.InfoContext(r.Context(), "session ended by account change", "request_id", RequestID(r.Context()), "user_id", id)
			if err := s.endBrowserSession(w, r); err != nil {
				s.serverError(w, r, err)
				return
			}
			s.redirectToLogin(w, r, reasonChanged)
			return
		}
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
	})
}

// recordActivity records this request's activity in a signed-in session
// when the record is older than idleTouch. The idle timeout itself is the
// store's: every save gives the row an expiry one idle period later
// (idleExpiry), so a session not saved for that long is gone.
func (s *Server) recordActivity(r *http.Request) {
	now := time.Now()
	if seen := time.UnixMilli(s.sessions.GetInt64(r.Context(), sessSeen)); now.Sub(seen) >= s.idleTouch() {
		s.sessions.Put(r.Context(), sessSeen, now.UnixMilli())
	}
}

// loadSession is scs's LoadAndSave behind a sessionGuard: scs saves a
// changed session (signed in, signed out, activity recorded) as the handler
// starts its answer, and when that save fails, the failure page (sessionStoreFailed)
// is the answer.
func (s *Server) loadSession(next http.Handler) http.Handler {
	load := s.sessions.LoadAndSave(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Room for the signed-in user, read with the session (one round
		// trip) and checked by loadUser.
		r = r.WithContext(accounts.WithSessionUser(r.Context()))
		load.ServeHTTP(&sessionGuard{ResponseWriter: w}, r)
	})
}

// sessionStoreFailed answers a request whose session the store could not
// load or save like any other failure (serverError): the portal's own page,
// a 503 while the database is out of reach. After it, what the handler
// writes goes nowhere.
func (s *Server) sessionStoreFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.serverError(w, r, fmt.Errorf("web: session store: %w", err))
	if g, ok := w.(*sessionGuard); ok {
		g.failed = true
	}
}

// sessionGuard drops what is written after sessionStoreFailed answered.
type sessionGuard struct {
	http.ResponseWriter
	failed bool
}

func (g *sessionGuard) WriteHeader(status int) {
	if !g.failed {
		g.ResponseWriter.WriteHeader(status)
	}
}

func (g *sessionGuard) Write(b []byte) (int, error) {
	if g.failed {
		return len(b), nil
	}
	return g.ResponseWriter.Write(b)
}

func (g *sessionGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// requireUser sends a visitor without a live session to the sign-in page,
// remembering where they were going and why they have to sign in.
func (s *Server) requireUser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentUser(r.Context()); !ok {
			reason := s.expiryReason(r)
			if reason != "" {
				s.clearSignedInCookie(w)
			} else {
				reason = reasonSignIn
			}
			s.redirectToLogin(w, r, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) redirectToLogin(w http.ResponseWriter, r *http.Request, reason string) {
	q := url.Values{"reason": {reason}}
	if r.Method == http.MethodGet && r.URL.Path != "/login" {
		if next := accounts.SafeNext(r.URL.RequestURI()); next != "" {
			q.Set("next", next)
		}
	}
	http.Redirect(w, r, "/login?"+q.Encode(), http.StatusSeeOther)
}

// signIn starts an authenticated session for u. The token is renewed first,
// so a session id planted before sign-in (session fixation) is worthless.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, u accounts.User) error {
	if err := s.sessions.RenewToken(r.Context()); err != nil {
		return err
	}
	s.sessions.Put(r.Context(), sessUserID, u.ID)
	s.sessions.Put(r.Context(), sessEpoch, u.AuthEpoch)
	s.sessions.Put(r.Context(), sessSeen, time.Now().UnixMilli())
	if u.Role == accounts.RoleAdmin {
		s.sessions.Put(r.Context(), sessAdminSeen, time.Now().UnixMilli())
	}
	s.setSignedInCookie(w, time.Now())
	if u.Role == accounts.RoleProvider {
		// The language of the profile follows the provider to any
		// browser they sign in on (issue 15's contract); ?lang= still
		// switches it there.
		p, err := s.accounts.Profile(r.Context(), u)
		if err != nil {
			return err
		}
		if tag, ok := i18n.Parse(p.Language); ok && p.Saved {
			s.rememberLanguage(w, tag)
		}
	}
	return nil
}

// endBrowserSession ends this browser's session (only this one: ending the
// account's others is the accounts service's business) and forgets that it
// signed in.
func (s *Server) endBrowserSession(w http.ResponseWriter, r *http.Request) error {
	if err := s.sessions.Destroy(r.Context()); err != nil {
		return err
	}
	s.clearSignedInCookie(w)
	return nil
}

// signInTo starts u's session, as signIn, and sends the browser on to the
// local path to. When the session cannot start it shows the safe 500 page
// instead and reports false.
func (s *Server) signInTo(w http.ResponseWriter, r *http.Request, u accounts.User, to string) bool {
	if err := s.signIn(w, r, u); err != nil {
		s.serverError(w, r, err)
		return false
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return true
}

// homeFor is where a user lands after sign-in when no page was asked for.
func homeFor(u accounts.User) string {
	switch u.Role {
	case accounts.RoleProvider:
		return "/inbox"
	case accounts.RoleStaff:
		return "/staff"
	}
	return "/admin/users"
}

// keepAlive records activity now (the idle warning's "Stay signed in"):
// whatever idleTouch would allow, the session's idle period starts again.
func (s *Server) keepAlive(w http.ResponseWriter, r *http.Request) {
	s.sessions.Put(r.Context(), sessSeen, time.Now().UnixMilli())
	w.WriteHeader(http.StatusNoContent)
}
