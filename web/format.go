package web

import (
	"strconv"
	"time"
)

// How pages write times and sizes.

// formatTime is t for people, in the portal's time zone, and for machines
// (the datetime attribute of <time>).
func (s *Server) formatTime(t time.Time) (human, iso string) {
	return t.In(s.cfg.Location).Format("Jan 2, 2006 3:04 PM MST"), t.UTC().Format(time.RFC3339)
}

// day is t for people, or a dash when there is none.
func (s *Server) day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	h, _ := s.formatTime(t)
	return h
}

// humanBytes is a size for people: bytes, KB or MB.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 0, 64) + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
