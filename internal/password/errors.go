package password

import "errors"

// ErrMalformedHash is returned (wrapped, test with errors.Is) when a stored
// PHC string cannot be parsed or carries parameters outside the range this
// package is willing to compute. Parsing never panics: a corrupted or
// tampered row in the credentials table must turn into an error, not a crash
// or an unbounded memory allocation.
//
// The error text describes what is wrong with the structure but never echoes
// the hash or the password.
var ErrMalformedHash = errors.New("password: malformed hash")

// ErrInvalidParams is returned by NewHasher when the argon2id parameters are
// below the OWASP / NIST floor or above the sanity ceiling.
var ErrInvalidParams = errors.New("password: invalid argon2id parameters")

// ErrTooLong is returned by Hasher.Hash when the password exceeds MaxBytes.
// Policy (Check) refuses such passwords earlier with a user-facing message;
// this is the defensive backstop that keeps attacker-supplied megabyte inputs
// away from the hashing code.
var ErrTooLong = errors.New("password: password too long")

// Violation identifies which rule of the password policy was broken. It is
// stable and machine-readable (for tests, metrics and translations); the
// human text lives in PolicyError.Reason.
type Violation string

// Policy violations reported by Check.
const (
	ViolationInvalidEncoding Violation = "invalid_encoding"
	ViolationTooShort        Violation = "too_short"
	ViolationTooLong         Violation = "too_long"
	ViolationContextWord     Violation = "context_word"
	ViolationCommon          Violation = "common"
	ViolationPattern         Violation = "pattern"
	ViolationGuessable       Violation = "guessable"
)

// PolicyError is returned by Check when a candidate password is refused.
//
// Reason is written for the end user and is safe to render in the form: it
// never contains the password or any part of it (NIST SP 800-63B-4 §3.1.1.2
// asks verifiers to tell the subscriber why a password was rejected, but the
// value itself must not leak into logs or error pages).
type PolicyError struct {
	Violation Violation
	Reason    string
}

func (e *PolicyError) Error() string {
	return "password: refused by policy (" + string(e.Violation) + "): " + e.Reason
}
