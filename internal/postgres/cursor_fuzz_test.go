package postgres

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// pgMinTimestamp is the earliest instant a PostgreSQL timestamptz holds
// (4714-11-24 BC, 00:00 UTC), in microseconds since 1970. The latest is
// past the int64 microseconds time.UnixMicro can give.
const pgMinTimestamp = -210866803200000000

// FuzzParseCursor: the inbox cursor comes from the URL (?before=), so it is
// anything at all. Whatever is accepted must be usable as query arguments
// without a database error: a canonical thread id, and a time PostgreSQL
// can hold (a time outside its range is "timestamp out of range", a 500);
// it re-encodes to a cursor that parses to the same place; refusals carry
// no values. Every cursor formatCursor makes for a thread is accepted back.
// Pure: no database.
func FuzzParseCursor(f *testing.F) {
	const id = "0b9d2b0c-6f4e-4c55-9d3a-2f1f0c9e7a11"
	for _, s := range []string{
		"1767225600000000_" + id,
		"0_" + id,
		"1767225600000000_" + strings.ToUpper(id),
		"1767225600000000",
		"_" + id,
		"abc_" + id,
		"1767225600000000_" + id + "_x",
		"9223372036854775807_" + id,
		"-1000000000000000000_" + id,
		"",
	} {
		f.Add(s, int64(1767225600000000))
	}
	f.Fuzz(func(t *testing.T, c string, micros int64) {
		at, gotID, ok := parseCursor(c)
		if !ok {
			if !at.IsZero() || gotID != "" {
				t.Fatalf("parseCursor(%q) refused with values %v, %q", c, at, gotID)
			}
		} else {
			switch {
			case !messaging.ValidID(gotID) || !strings.HasSuffix(c, "_"+gotID):
				t.Fatalf("parseCursor(%q): id %q", c, gotID)
			case at.UnixMicro() < pgMinTimestamp:
				t.Fatalf("parseCursor(%q) = %v: before PostgreSQL's earliest timestamp", c, at)
			}
			again, againID, ok2 := parseCursor(formatCursor(at, gotID))
			if !ok2 || !again.Equal(at) || againID != gotID {
				t.Fatalf("parseCursor(%q) = %v, %q; re-encoded %q parses as %v, %q, %v", c, at, gotID, formatCursor(at, gotID), again, againID, ok2)
			}
		}
		// A cursor made from any thread's last_message_at (never before 1970).
		if micros >= 0 {
			want := time.UnixMicro(micros)
			got, gotID, ok := parseCursor(formatCursor(want, id))
			if !ok || !got.Equal(want) || gotID != id {
				t.Fatalf("formatCursor(%v) = %q parses as %v, %q, %v", want, strconv.FormatInt(micros, 10)+"_"+id, got, gotID, ok)
			}
		}
	})
}
