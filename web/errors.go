package web

import (
	"bytes"
	"net/http"

	"github.com/a-h/templ"

	"github.com/healthnet/secureportal/templates/pages"
)

// safeMessages are the only things a user is told about a failure: the
// internal cause stays in the log, next to the same request id.
var safeMessages = map[int]struct{ title, message string }{
	http.StatusBadRequest:            {"That request could not be understood", "Please go back, check what you entered and try again."},
	http.StatusForbidden:             {"That action was refused", "For your security the portal accepts forms only from its own pages. Please go back, reload the page and try again."},
	http.StatusNotFound:              {"Page not found", "There is nothing at this address. If you followed a link from an email, check that the whole link was copied."},
	http.StatusMethodNotAllowed:      {"That action is not available here", "Please go back and use the buttons on the page."},
	http.StatusRequestEntityTooLarge: {"That was too large", "What you sent is larger than the portal accepts. Please send less at once."},
	http.StatusTooManyRequests:       {"Too many attempts", "Please wait a few minutes before trying again."},
	http.StatusInternalServerError:   {"Something went wrong on our side", "The problem has been logged. Please try again in a few minutes; if it keeps happening, contact support and quote the reference below."},
	http.StatusServiceUnavailable:    {"The portal is busy", "Please try again in a few minutes."},
}

// serverError logs err with the request id and shows the safe 500 page.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
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
