package web

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/accounts"
)

// Every value a request carries in its query or form is text before a
// handler sees it: valid UTF-8 without NUL. PostgreSQL refuses anything else
// ("invalid byte sequence for encoding UTF8", a 500 halfway through a
// change), and Go's string functions turn a stray byte into U+FFFD, so one
// typed address silently becomes another (compose's "to" once created, and
// mailed, a pending account for an address with U+FFFD in it). No browser
// sends such bytes from a form; a pasted NUL, a broken client or a scanner
// does.
//
// The check is made once, at the edge, for every field: postForm for form
// posts, readUploadForm for the text parts of message forms, textQuery for
// query strings. A field the page shows gets the words beside it, emptied so
// that it is retyped; any other field gets a page of its own. Either way the
// answer is 422 and nothing is stored.

// isText reports whether s may be stored and shown as text.
func isText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// textProblems empties every value of vals that is not text, and says how
// to answer: fe nil when every value was text; the words beside each field
// that was not, when the page shows an error beside each of them (shown);
// ok false when it does not, and the request needs a page of its own
// (notTextPage).
func (s *Server) textProblems(r *http.Request, vals url.Values, shown []string) (fe accounts.FieldErrors, ok bool) {
	ok = true
	for name, vs := range vals {
		for i, v := range vs {
			if isText(v) {
				continue
			}
			vs[i] = ""
			if fe == nil {
				fe = accounts.FieldErrors{}
			}
			fe[name] = notTextMessage
			ok = ok && slices.Contains(shown, name)
		}
	}
	if fe != nil {
		s.log.InfoContext(r.Context(), "input is not text", "request_id", RequestID(r.Context()), "fields", len(fe), "shown", ok)
	}
	return fe, ok
}

// problemsErr is fe as the error a handler answers in place of calling the
// domain, the way it answers the domain's own FieldErrors; nil when fe is
// empty (a nil FieldErrors in an error interface would not be nil).
func problemsErr(fe accounts.FieldErrors) error {
	if len(fe) == 0 {
		return nil
	}
	return fe
}

// notTextPage answers a request with a value that is not text in a field
// its page does not show.
func (s *Server) notTextPage(w http.ResponseWriter, r *http.Request) {
	s.renderMessage(w, r, http.StatusUnprocessableEntity, notTextTitle, notTextMessage)
}

// postedForm is a form post's fields. The fields that were not text have
// been emptied; notText has the words beside each.
type postedForm struct {
	url.Values
	notText accounts.FieldErrors
}

// textErr is nil, or the fields that were not text as FieldErrors: the
// handler shows them as it shows the domain's, without calling the domain.
func (f postedForm) textErr() error { return problemsErr(f.notText) }

// postForm parses a form post and returns its fields. shown are the fields
// the form shows an error beside. It answers the request itself, and ok is
// false, for a body that cannot be parsed (malformed, or over the route's
// size limit: the safe 400 page) and for a value that is not text in a
// field the form does not show (422). A shown field that is not text is
// the handler's to answer (textErr).
func (s *Server) postForm(w http.ResponseWriter, r *http.Request, shown ...string) (f postedForm, ok bool) {
	if err := r.ParseForm(); err != nil {
		s.log.InfoContext(r.Context(), "malformed form", "request_id", RequestID(r.Context()), "err", err)
		s.renderError(w, r, http.StatusBadRequest)
		return f, false
	}
	fe, ok := s.textProblems(r, r.PostForm, shown)
	if !ok {
		s.notTextPage(w, r)
		return f, false
	}
	return postedForm{Values: r.PostForm, notText: fe}, true
}

// queryForms are the pages whose form is sent as a query (method GET) and
// that show its fields' problems: what the page is, and the fields.
var queryForms = map[string][]string{
	"/tls-check":   {"domain"},
	"/admin/audit": {"actor", "subject", "action", "thread", "from", "to"},
}

type queryProblemsKey struct{}

// textQuery checks the query string of every page before a handler reads
// it. A value that is not text gets the 422 page, unless its page shows
// the field (queryForms): there it is emptied, and the page says what was
// wrong beside it (queryProblems).
func (s *Server) textQuery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fe, ok := s.textProblems(r, q, queryForms[r.URL.Path])
		if fe == nil {
			next.ServeHTTP(w, r)
			return
		}
		if !ok || r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.notTextPage(w, r)
			return
		}
		r2 := r.WithContext(context.WithValue(r.Context(), queryProblemsKey{}, fe))
		u := *r.URL
		u.RawQuery = q.Encode()
		r2.URL = &u
		next.ServeHTTP(w, r2)
	})
}

// queryProblems are the fields of a query form (queryForms) that were not
// text, with the words beside each; nil when all were.
func queryProblems(r *http.Request) accounts.FieldErrors {
	fe, _ := r.Context().Value(queryProblemsKey{}).(accounts.FieldErrors)
	return fe
}
