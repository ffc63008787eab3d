package web

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	"github.com/a-h/templ"

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

// serverError logs err with the request id and shows the safe 500 page; when
// the client has left it logs that at info level and sends nothing.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if clientGone(r, err) {
		s.log.InfoContext(r.Context(), "client closed the request", "request_id", RequestID(r.Context()), "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	s.log.ErrorContext(r.Context(), "internal error", "request_id", RequestID(r.Context()), "err", err)
	s.renderError(w, r, http.StatusInternalServerError)
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

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, http.StatusMethodNotAllowed)
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
