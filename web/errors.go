package web

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// statusClientClosed is nginx's code for a request the client abandoned
// before the answer: it appears in logs and metrics, never on the wire.
const statusClientClosed = 499

// clientGone reports whether err is only the client having left (closed the
// tab, lost the network): no fault of ours, so no 500 and no error log.
func clientGone(r *http.Request, err error) bool {
	return r.Context().Err() != nil && errors.Is(err, context.Canceled)
}

// unavailable reports whether err is the database (or another service the
// portal stands on) out of reach for now: stopped, restarting, cut off, or
// too slow to answer. That is no bug of ours, and the client should simply
// retry. web knows no database driver: a store says it of its errors with
// an Unavailable method (as net.Error says Timeout), and the network says
// it with a refused or broken connection, or a timeout.
func unavailable(err error) bool {
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return true
	}
	var netErr net.Error // context.DeadlineExceeded is one too
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EPIPE, syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ETIMEDOUT} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// retryAfterSeconds is how soon a client may try again while the database
// is out of reach: a restart takes seconds, and the portal serves again
// within a second of the database.
const retryAfterSeconds = "5"

// serverError logs err with the request id and shows the safe 500 page, or
// the 503 "busy" page with Retry-After while the database is out of reach
// (unavailable); when the client has left it logs that at info level and
// sends nothing.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case clientGone(r, err):
		s.log.InfoContext(r.Context(), "client closed the request", "request_id", RequestID(r.Context()), "err", err)
		w.WriteHeader(statusClientClosed)
	case unavailable(err):
		s.log.WarnContext(r.Context(), "unavailable", "request_id", RequestID(r.Context()), "err", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		s.renderError(w, r, http.StatusServiceUnavailable)
	default:
		s.log.ErrorContext(r.Context(), "internal error", "request_id", RequestID(r.Context()), "err", err)
		s.renderError(w, r, http.StatusInternalServerError)
	}
}

// renderError shows the safe page for status.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int) {
	msg, ok := safeMessages[status]
	if !ok {
		msg = safeMessages[http.StatusInternalServerError]
	}
	s.render(w, r, status, pages.Error(pages.ErrorView{
		Chrome:    s.chrome(r),
		Status:    status,
		Title:     msg.title,
		Message:   msg.message,
		RequestID: RequestID(r.Context()),
	}))
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusNotFound)
}

// failed answers a messaging error: 404 for something the viewer may not
// see (or that does not exist: the same answer), the safe 500 otherwise.
// It reports false, having written nothing, when err is nil.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, messaging.ErrNotFound):
		s.notFound(w, r)
	default:
		s.serverError(w, r, err)
	}
	return true
}

// methodNotAllowed answers a method the route does not have, saying in
// Allow which it has (RFC 9110 §15.5.6).
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", strings.Join(allowedMethods(r), ", "))
	s.renderError(w, r, http.StatusMethodNotAllowed)
}

// allowedMethods are the methods of the route table at r's path, HEAD
// wherever GET is (knownMethods).
func allowedMethods(r *http.Request) []string {
	routes := chi.RouteContext(r.Context()).Routes
	path := r.URL.RawPath
	if path == "" {
		path = r.URL.Path
	}
	var allowed []string
	for _, m := range servedMethods {
		match := m
		if m == http.MethodHead {
			match = http.MethodGet
		}
		if routes != nil && routes.Match(chi.NewRouteContext(), match, path) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// servedMethods are the methods the portal has routes for: pages and
// forms. Browsers send nothing else to it.
var servedMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost}

// knownMethods refuses any method the portal serves nowhere (TRACE, PUT,
// OPTIONS, made-up ones) with 501 before routing, so none of them can reach
// a handler or be echoed; and answers HEAD wherever GET is, as RFC 9110
// §9.3.2 expects (the server sends the headers and drops the body).
//
// HEAD is routed as GET outright: the portal registers no HEAD route of its
// own. (chi's middleware.GetHead looks for a HEAD route first, and finds
// one in the catch-all a mounted router registers for every method at its
// own root, so HEAD /staff/ and HEAD /admin/ answered 405; issue 13.)
func (s *Server) knownMethods(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(servedMethods, r.Method) {
			s.renderError(w, r, http.StatusNotImplemented)
			return
		}
		if r.Method == http.MethodHead {
			if rctx := chi.RouteContext(r.Context()); rctx != nil {
				rctx.RouteMethod = http.MethodGet
			}
		}
		next.ServeHTTP(w, r)
	})
}

// render writes a page with status. It renders into a buffer first so that a
// template failure yields a clean error page instead of half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	var buf bytes.Buffer
	if err := page.Render(r.Context(), &buf); err != nil {
		s.log.ErrorContext(r.Context(), "render page", "request_id", RequestID(r.Context()), "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		w.Write([]byte("Internal Server Error. Reference: " + RequestID(r.Context()) + "\n"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// renderBuilt renders page, unless building its view model failed (err),
// in which case the cause is logged and the safe 500 page shown instead.
func (s *Server) renderBuilt(w http.ResponseWriter, r *http.Request, status int, page templ.Component, err error) {
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, page)
}
