// Package blindindex turns text into keyed tokens that a database can
// index without learning the text: each word's beginnings (3 to 8
// characters) are HMAC-SHA256'd under a secret search key and cut to 32
// bits. A search computes the tokens of what was typed and asks the
// database only for records holding all of them; the records found are
// then decrypted and compared for real (Matches), so the index only has
// to be a superset of the true matches, never exact.
//
// The one rule both sides share: a search term matches text where it
// begins a word. Words are runs of letters or of digits, so "A12345678"
// holds the words "a" and "12345678", and "eob-march.pdf" holds "eob",
// "march" and "pdf". Text must be folded first (lower case, accents
// removed; messaging.Fold) on both sides.
package blindindex

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Word beginnings shorter than MinPrefix are not indexed (too common to
// narrow anything); longer than MaxPrefix they are cut (the decryption
// that confirms a match checks the rest). Every length between is
// indexed, so a whole word narrows to the records that hold a word
// beginning with all of it: with a cut at 8, "authorizations" would have
// let every "authorization" by, to be decrypted for nothing.
const (
	MinPrefix = 3
	MaxPrefix = 24
)

// keyInfo separates the search key from every other use of its secret.
const keyInfo = "secureportal/search-index/v1"

// Key computes tokens. It is safe for concurrent use.
type Key struct {
	secret []byte
}

// NewKey derives the search key from secret (at least 32 random bytes:
// the portal keeps it as a data key wrapped by the KEK).
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < 32 {
		return nil, errors.New("blindindex: secret shorter than 32 bytes")
	}
	k, err := hkdf.Key(sha256.New, secret, nil, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	return &Key{secret: k}, nil
}

// Tokens returns the distinct tokens of every word beginning in texts
// (already folded), sorted: what a record stores.
func (k *Key) Tokens(texts ...string) []int32 {
	m := hmac.New(sha256.New, k.secret)
	var out []int32
	for _, text := range texts {
		for _, w := range Words(text) {
			n := utf8.RuneCountInString(w)
			if n < MinPrefix {
				continue
			}
			for size := MinPrefix; size <= min(n, MaxPrefix); size++ {
				out = append(out, token(m, runePrefix(w, size)))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TermTokens returns the tokens a record must hold to match term (folded):
// one per word of the term long enough to be indexed. None means the term
// cannot narrow a search (every word shorter than MinPrefix).
func (k *Key) TermTokens(term string) []int32 {
	m := hmac.New(sha256.New, k.secret)
	var out []int32
	for _, w := range Words(term) {
		n := utf8.RuneCountInString(w)
		if n >= MinPrefix {
			out = append(out, token(m, runePrefix(w, min(n, MaxPrefix))))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func token(m hash.Hash, s string) int32 {
	m.Reset()
	m.Write([]byte(s))
	var sum [sha256.Size]byte
	return int32(binary.BigEndian.Uint32(m.Sum(sum[:0])))
}

// runePrefix is the first n runes of s (s has at least n).
func runePrefix(s string, n int) string {
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// class sorts runes into letters (1), digits (2) and separators (0).
func class(r rune) int {
	switch {
	case unicode.IsLetter(r):
		return 1
	case unicode.IsDigit(r):
		return 2
	}
	return 0
}

// Words splits folded text into runs of letters and runs of digits.
func Words(text string) []string {
	var words []string
	start, prev := -1, 0
	for i, r := range text {
		c := class(r)
		if c != prev {
			if prev != 0 {
				words = append(words, text[start:i])
			}
			start = i
		}
		prev = c
	}
	if prev != 0 {
		words = append(words, text[start:])
	}
	return words
}

// Matches reports whether term occurs in text (both folded) where it
// begins a word, or anywhere when the term itself begins with a
// separator. This is the rule the tokens are built for: when Matches is
// true, every token of TermTokens(term) is among Tokens(text).
func Matches(text, term string) bool {
	if term == "" {
		return true
	}
	first, _ := utf8.DecodeRuneInString(term)
	fc := class(first)
	for from := 0; from <= len(text)-len(term); {
		i := strings.Index(text[from:], term)
		if i < 0 {
			return false
		}
		i += from
		if fc == 0 || i == 0 {
			return true
		}
		if prev, _ := utf8.DecodeLastRuneInString(text[:i]); class(prev) != fc {
			return true
		}
		_, size := utf8.DecodeRuneInString(text[i:])
		from = i + size
	}
	return false
}
