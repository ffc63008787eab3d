package web

import (
	"context"
	"strconv"
	"time"

	"github.com/healthnet/secureportal/internal/i18n"
)

// How pages write times and sizes.

// formatTime is t for people, in the portal's time zone and the
// request's language, and for machines (the datetime attribute of <time>).
func (s *Server) formatTime(ctx context.Context, t time.Time) (human, iso string) {
	return i18n.DateTime(ctx, t.In(s.cfg.Location)), t.UTC().Format(time.RFC3339)
}

// day is t for people, or a dash when there is none.
func (s *Server) day(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	h, _ := s.formatTime(ctx, t)
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
