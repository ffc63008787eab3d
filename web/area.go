package web

import (
	"context"
	"net/http"
)

// The conversation pages shared by providers (/inbox, /threads/…), staff
// (/staff, /staff/threads/…) and an admin under emergency access: one set of
// handlers, and the area of the route says whose pages they are. routes.go
// sets it with inArea; the handlers read it with areaOf.
type area struct {
	staff      bool
	readOnly   bool
	inboxURL   string
	threadURL  string // prefix; the thread id follows
	composeURL string
}

var (
	providerArea = area{inboxURL: "/inbox", threadURL: "/threads/", composeURL: "/compose"}
	staffArea    = area{staff: true, inboxURL: "/staff", threadURL: "/staff/threads/", composeURL: "/staff/compose"}
	// emergencyArea is an admin reading a thread under emergency access.
	emergencyArea = area{staff: true, readOnly: true, inboxURL: "/admin/emergency", threadURL: "/admin/emergency/threads/"}
)

type areaKey struct{}

// inArea tells the handlers of the routes it guards which area they serve.
func (s *Server) inArea(a area) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), areaKey{}, a)))
		})
	}
}

// areaOf is the area inArea set for r. A conversation handler routed without
// inArea is a wiring mistake that every test of the route finds: it panics
// (the safe 500 page) rather than guess whose pages to show.
func areaOf(r *http.Request) area {
	a, ok := r.Context().Value(areaKey{}).(area)
	if !ok {
		panic("web: " + r.URL.Path + " is routed to a conversation handler without inArea")
	}
	return a
}
