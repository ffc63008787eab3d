package messaging

import (
	"errors"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"

	"github.com/healthnet/secureportal/internal/blindindex"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Search limits: a query is a few words someone typed, not a document.
const (
	MaxQueryLen   = 200
	MaxQueryTerms = 8
)

// ErrQueryTooLong is a search of more than MaxQueryLen characters or
// MaxQueryTerms words.
var ErrQueryTooLong = errors.New("messaging: search too long")

// Query is a search: every term must appear somewhere in a thread (its
// subject, the provider's name or address, a message, a file name), in
// any case and with or without accents. A term matches where it begins a
// word (blindindex.Matches): "john" finds "Johnson", "12345678" finds
// member "A12345678", "471" does not find claim "4471".
//
// The database sees neither the terms nor the text: it narrows the search
// with keyed tokens (internal/blindindex), and the portal confirms each
// match in memory after decryption.
type Query struct {
	Terms []string // folded, at most MaxQueryTerms
	// TitlesOnly searches subjects and providers' names and addresses
	// only, not messages and file names: much faster on a large archive.
	TitlesOnly bool
}

// ParseQuery splits what was typed into folded terms; an empty Query
// (no terms) means no search.
func ParseQuery(s string, titlesOnly bool) (Query, error) {
	if utf8.RuneCountInString(s) > MaxQueryLen {
		return Query{}, ErrQueryTooLong
	}
	var q Query
	for _, t := range strings.Fields(Fold(s)) {
		if !slices.Contains(q.Terms, t) {
			q.Terms = append(q.Terms, t)
		}
	}
	if len(q.Terms) > MaxQueryTerms {
		return Query{}, ErrQueryTooLong
	}
	q.TitlesOnly = titlesOnly
	return q, nil
}

// Empty reports whether there is nothing to search for.
func (q Query) Empty() bool { return len(q.Terms) == 0 }

// String is the query as folded terms, for showing back.
func (q Query) String() string { return strings.Join(q.Terms, " ") }

// Found records which of a query's terms a thread has shown so far
// (bit i: Terms[i]).
type Found uint16

// Match adds the terms that text (already folded) contains to f.
func (q Query) Match(f Found, text string) Found {
	for i, t := range q.Terms {
		if f&(1<<i) == 0 && blindindex.Matches(text, t) {
			f |= 1 << i
		}
	}
	return f
}

// All reports whether f holds every term.
func (q Query) All(f Found) bool { return f == Found(1)<<len(q.Terms)-1 }

// Fold makes text comparable for search: lower case, accents removed
// ("Muñoz" and "munoz" match). ASCII, most of what is stored, takes a
// fast path.
func Fold(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			folded, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
			if err != nil {
				folded = s
			}
			return strings.ToLower(folded)
		}
	}
	return strings.ToLower(s)
}

// SearchResult is a page of threads that match a query, newest first.
type SearchResult struct {
	Threads []ThreadSummary
	// Next continues the search after this page ("" when there is no
	// more); with Partial, after the last thread searched.
	Next string
	// Partial: the search stopped at its time budget before it found a
	// page; it searched the threads active since SearchedBackTo.
	Partial        bool
	SearchedBackTo time.Time
	// Searched counts the threads whose text was compared.
	Searched int
}
