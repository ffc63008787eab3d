package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The authenticator-app rules (RFC 6238 as every app implements it): SHA-1,
// six digits, 30-second steps, and one step of clock drift either way.
const (
	totpPeriod = 30
	totpDigits = otp.DigitsSix
	totpDrift  = 1
	// totpStale is how many steps back a code is still recognised as one
	// the app showed earlier, to say "expired" rather than "wrong".
	totpStale = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}

// TOTPKey is what an authenticator app is set up with: the secret (base32,
// shown as text for typing in) and the otpauth:// URL the QR code carries.
type TOTPKey struct {
	Secret string
	URL    string
}

// totpSecretBytes is the size of a secret: 160 bits, as RFC 4226 advises.
const totpSecretBytes = 20

var totpEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newTOTPKey makes a fresh secret for account at issuer.
func newTOTPKey(issuer, account string) (TOTPKey, error) {
	raw := make([]byte, totpSecretBytes)
	rand.Read(raw) // crypto/rand.Read never fails on supported platforms
	return totpKeyFor(issuer, account, totpEncoding.EncodeToString(raw))
}

// wellFormedSecret reports whether s has the shape of the keys newTOTPKey
// makes (base32 without padding).
func wellFormedSecret(s string) bool {
	raw, err := totpEncoding.DecodeString(s)
	return err == nil && len(raw) == totpSecretBytes
}

// totpKeyFor is the key of secret: the text to type in and the otpauth://
// URL for the QR code.
func totpKeyFor(issuer, account, secret string) (TOTPKey, error) {
	raw, err := totpEncoding.DecodeString(secret)
	if err != nil {
		return TOTPKey{}, err
	}
	k, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Period: totpPeriod,
		Secret: raw, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return TOTPKey{}, err
	}
	return TOTPKey{Secret: k.Secret(), URL: k.URL()}, nil
}

// totpStep is the 30-second step that t falls in.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// TOTPCode is the code an app with secret shows at t (tests and the demo
// use it to play the app's part).
func TOTPCode(secret string, t time.Time) (string, error) {
	return totp.GenerateCodeCustom(secret, t, totpOpts)
}

// codeMatch says where in time a code sits relative to now.
type codeMatch int

const (
	codeWrong   codeMatch = iota // no recent step has this code
	codeCurrent                  // within the allowed drift; step says which
	codeStale                    // an older step's code: the user waited too long
)

// matchTOTP finds the step at now (give or take totpDrift) whose code is
// code. It compares every candidate in constant time.
func matchTOTP(secret, code string, now time.Time) (codeMatch, int64) {
	cur := totpStep(now)
	found, step := codeWrong, int64(0)
	for s := cur - totpStale; s <= cur+totpDrift; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return codeWrong, 0
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found, step = codeStale, s
			if s >= cur-totpDrift {
				found = codeCurrent
			}
		}
	}
	return found, step
}

// Recovery codes are 16 characters of lowercase base32 (80 bits), shown in
// groups of four. Input is forgiving: case, spaces and hyphens are ignored.
const (
	recoveryCodeCount = 10
	recoveryCodeLen   = 16
)

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes returns fresh codes to show once, and their hashes to keep.
func newRecoveryCodes() (shown []string, hashes [][]byte) {
	for range recoveryCodeCount {
		b := make([]byte, recoveryCodeLen*5/8)
		rand.Read(b) // crypto/rand.Read never fails on supported platforms
		c := recoveryEncoding.EncodeToString(b)
		shown = append(shown, c[0:4]+"-"+c[4:8]+"-"+c[8:12]+"-"+c[12:16])
		h := sha256.Sum256([]byte(c))
		hashes = append(hashes, h[:])
	}
	return shown, hashes
}

// codeKind tells a TOTP code from a recovery code by its shape.
type codeKind int

const (
	codeUnreadable codeKind = iota
	codeTOTP
	codeRecovery
)

// normaliseCode strips what people type around a code and says what it is.
func normaliseCode(in string) (string, codeKind) {
	c := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '\t':
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(in)))
	switch {
	case len(c) == totpDigits.Length() && strings.Trim(c, "0123456789") == "":
		return c, codeTOTP
	case len(c) == recoveryCodeLen:
		if _, err := recoveryEncoding.DecodeString(c); err == nil {
			return c, codeRecovery
		}
	}
	return c, codeUnreadable
}

// recoveryHash is what is stored of a (normalised) recovery code.
func recoveryHash(code string) []byte {
	h := sha256.Sum256([]byte(code))
	return h[:]
}
