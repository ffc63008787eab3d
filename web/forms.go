package web

import (
	"net/http"
	"net/url"
)

// postForm parses a form post and returns its fields. A body that cannot be
// parsed (malformed, or over the route's size limit) is answered here with
// the safe 400 page, and ok is false: the handler just returns.
func (s *Server) postForm(w http.ResponseWriter, r *http.Request) (fields url.Values, ok bool) {
	if err := r.ParseForm(); err != nil {
		s.log.InfoContext(r.Context(), "malformed form", "request_id", RequestID(r.Context()), "err", err)
		s.renderError(w, r, http.StatusBadRequest)
		return nil, false
	}
	return r.PostForm, true
}
