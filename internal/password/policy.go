package password

import (
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/match"
	"golang.org/x/text/unicode/norm"
)

// Length limits, counted in Unicode code points after NFKC normalisation.
//
// NIST SP 800-63B-4 §3.1.1.2: when a password is the only authentication
// factor it SHALL be at least 15 characters; verifiers SHOULD permit at least
// 64 and SHALL NOT truncate. The portal's login is password-first, so 15 is
// the floor; 256 leaves ample room for passphrases while keeping the work per
// request bounded. Argon2 hashes every byte, so nothing is truncated.
const (
	MinLength = 15
	MaxLength = 256
)

// MinScore is the lowest zxcvbn score Check accepts. Score 3 means an
// estimated >= 1e8 guesses ("safely unguessable ... assuming a salted, slow
// hash"), i.e. beyond what online guessing and a throttled login can reach,
// and costly offline against argon2id at DefaultParams. Score 2 admits
// common-word-plus-digits passwords that cracking rule sets try early.
//
// The score is computed from a slightly stricter estimate than stock zxcvbn;
// see adjustedGuesses.
const MinScore = 3

// zxcvbnMaxRunes caps how much of the password is fed to zxcvbn. Its
// matching is super-linear (about 0.5-0.8 s of CPU for 256 characters on the
// reference machine), which would turn the signup form into a CPU DoS
// vector. Dropbox's zxcvbn documentation recommends the same truncation. The
// cap only affects the *estimate*: length, context and blocklist rules see
// the whole password, and hashing never truncates. A 64-character prefix that
// scores >= MinScore is already far beyond any guessing attack.
const zxcvbnMaxRunes = 64

// minContextWordRunes is the shortest context token (name part, org word)
// that Check looks for inside a password; shorter tokens ("al", "md") would
// refuse too many unrelated passwords. The email local part as a whole is
// checked from 3 code points because it is the user's login identifier.
const (
	minContextWordRunes = 4
	minLocalPartRunes   = 3
)

// User-facing reasons. They never include the password.
const (
	reasonInvalidEncoding = "Your password contains characters we could not read. Please retype it."
	reasonTooShortFmt     = "Use at least %d characters (you typed %d)."
	reasonTooLongFmt      = "Passwords can be at most %d characters."
	reasonContextWord     = "Don't use your name, your email address or the organisation's name in your password."
	reasonCommon          = "This password appears in lists of commonly used passwords."
	reasonPattern         = `Avoid repeated characters, sequences like "abcd" or "1234" and keyboard patterns like "qwerty".`
	reasonGuessable       = "This password is too easy to guess. Try a passphrase of four or more unrelated words."
)

// Check applies the portal's password policy, per NIST SP 800-63B-4
// §3.1.1.2, and returns nil or a *PolicyError whose Reason can be shown to
// the user.
//
// context holds strings the password must not be built from: the
// organisation's name, the user's email address, display name, etc. Emails
// (anything containing '@') contribute the whole address, the local part and
// its words; other strings contribute themselves and their words. Matching is
// case-insensitive and ignores punctuation and spaces, so "Health-Net" is
// caught in "myhealthnetpassword".
//
// Rules, in order:
//   - valid UTF-8, at most MaxLength code points (and MaxBytes bytes);
//   - at least MinLength code points;
//   - no context word (see above);
//   - not a known common/breached password: the zxcvbn "passwords" frequency
//     list (30,000 entries from leaked-password corpora), matched exactly
//     after lowercasing and removing spaces and separators;
//   - zxcvbn score >= MinScore. zxcvbn finds list entries *inside* the
//     password (with capitalisation, l33t and reversal), dictionary words,
//     names, dates, repeats, sequences and keyboard walks, so it is what
//     refuses "password123456789", "qwertyuiopasdfgh" or "aaaaaaaaaaaaaaaa".
//     We deliberately do not strip digits and compare the stem against the
//     list: that would refuse "love" followed by thirteen random digits,
//     which zxcvbn rightly rates as strong; zxcvbn instead prices the affix.
//
// Per NIST there are no composition rules (no "one digit, one symbol"):
// they push users to predictable patterns without adding real strength.
func Check(password string, context ...string) error {
	_, err := evaluate(password, context)
	return err
}

// evaluation is shared by Check and Strength so the form hint and the
// server-side decision never disagree.
type evaluation struct {
	guesses float64 // adjustedGuesses; 0 when not evaluated
	score   int     // 0..4 from guesses
}

func evaluate(password string, context []string) (evaluation, error) {
	var ev evaluation
	if len(password) > MaxBytes {
		return ev, &PolicyError{ViolationTooLong, fmt.Sprintf(reasonTooLongFmt, MaxLength)}
	}
	if !utf8.ValidString(password) {
		return ev, &PolicyError{ViolationInvalidEncoding, reasonInvalidEncoding}
	}
	pw := norm.NFKC.String(password)
	n := utf8.RuneCountInString(pw)
	if n > MaxLength {
		return ev, &PolicyError{ViolationTooLong, fmt.Sprintf(reasonTooLongFmt, MaxLength)}
	}

	words := contextWords(context)
	zx := zxcvbn.PasswordStrength(prefixRunes(pw, zxcvbnMaxRunes), words)
	ev.guesses = adjustedGuesses(zx)
	ev.score = guessesToScore(ev.guesses)

	if n < MinLength {
		return ev, &PolicyError{ViolationTooShort, fmt.Sprintf(reasonTooShortFmt, MinLength, n)}
	}
	lower := strings.ToLower(pw)
	folded := alnumOnly(lower)
	for _, w := range words {
		if strings.Contains(folded, w) {
			return ev, &PolicyError{ViolationContextWord, reasonContextWord}
		}
	}
	if isBlocklisted(lower) {
		return ev, &PolicyError{ViolationCommon, reasonCommon}
	}
	if ev.score < MinScore {
		return ev, classifyWeak(zx.Sequence)
	}
	return ev, nil
}

// adjustedGuesses is zxcvbn's estimate without its additive length penalty.
//
// zxcvbn rates a decomposition into l matches as
// l! * Π(match guesses) + D^(l-1) with D = 10,000. The additive term means
// that merely appending one symbol adds a factor of ~10^4, so
// "Password123456789!" (top-2 password + top-5 password + "!") reaches
// exactly 1e8 guesses and score 3, although appending "!" is among the first
// mangling rules crackers apply (hashcat best64 and similar). We therefore
// take the smaller of zxcvbn's figure and the multiplicative term alone for
// the sequence zxcvbn chose; genuine passphrases and random strings are
// unaffected because their product term is already far above 1e8.
func adjustedGuesses(r zxcvbn.Result) float64 {
	if len(r.Sequence) == 0 {
		return r.Guesses
	}
	product := 1.0
	for i, m := range r.Sequence {
		product *= float64(i+1) * max(m.Guesses, 1)
	}
	return min(r.Guesses, product)
}

// guessesToScore mirrors zxcvbn's (unexported) guesses_to_score thresholds.
func guessesToScore(guesses float64) int {
	const delta = 5
	switch {
	case guesses < 1e3+delta:
		return 0 // too guessable: risky password
	case guesses < 1e6+delta:
		return 1 // very guessable: protection from throttled online attacks
	case guesses < 1e8+delta:
		return 2 // somewhat guessable: protection from unthrottled online attacks
	case guesses < 1e10+delta:
		return 3 // safely unguessable: moderate protection from offline slow-hash attacks
	default:
		return 4 // very unguessable: strong protection from offline slow-hash attacks
	}
}

// classifyWeak picks the most helpful reason for a low zxcvbn score from the
// matches zxcvbn used to estimate it.
func classifyWeak(seq []*match.Match) *PolicyError {
	pattern := false
	for _, m := range seq {
		switch m.Pattern {
		case "dictionary":
			if m.DictionaryName == "passwords" && utf8.RuneCountInString(m.Token) >= 4 {
				return &PolicyError{ViolationCommon, reasonCommon}
			}
			if m.DictionaryName == "user_inputs" {
				return &PolicyError{ViolationContextWord, reasonContextWord}
			}
		case "repeat", "sequence", "spatial":
			pattern = true
		}
	}
	if pattern {
		return &PolicyError{ViolationPattern, reasonPattern}
	}
	return &PolicyError{ViolationGuessable, reasonGuessable}
}

var (
	blocklistOnce sync.Once
	blocklist     map[string]struct{}
)

// isBlocklisted reports whether the lowercased password, with and without
// spaces and common separators, is an entry of zxcvbn's "passwords" list.
func isBlocklisted(lower string) bool {
	blocklistOnce.Do(func() {
		list := frequency.FrequencyLists["passwords"]
		blocklist = make(map[string]struct{}, len(list))
		for _, w := range list {
			blocklist[strings.ToLower(w)] = struct{}{}
		}
	})
	if _, ok := blocklist[lower]; ok {
		return true
	}
	_, ok := blocklist[stripSeparators(lower)]
	return ok
}

func stripSeparators(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || strings.ContainsRune("-_.,;:+*/\\|~'\"", r) {
			return -1
		}
		return r
	}, s)
}

// contextWords turns caller context strings into lowercase alphanumeric
// tokens to forbid inside the password (and to give zxcvbn as user inputs).
func contextWords(context []string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string, minRunes int) {
		if utf8.RuneCountInString(w) >= minRunes && !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	addWithWords := func(s string) {
		add(alnumOnly(s), minContextWordRunes)
		for _, f := range strings.FieldsFunc(s, notAlnum) {
			add(f, minContextWordRunes)
		}
	}
	for _, c := range context {
		if len(c) > MaxBytes {
			c = c[:MaxBytes] // context is caller data, but keep work bounded
		}
		c = strings.ToLower(norm.NFKC.String(strings.ToValidUTF8(c, "")))
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			local := c[:at]
			add(alnumOnly(c), minContextWordRunes) // whole address
			add(alnumOnly(local), minLocalPartRunes)
			for _, f := range strings.FieldsFunc(local, notAlnum) {
				add(f, minContextWordRunes)
			}
			continue
		}
		addWithWords(c)
	}
	return out
}

func notAlnum(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

func alnumOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if notAlnum(r) {
			return -1
		}
		return r
	}, s)
}

func prefixRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
