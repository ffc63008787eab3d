package password

import (
	"context"
	"errors"
	"testing"
)

// FuzzVerifyMalformed feeds arbitrary strings to the PHC parser and Verify.
// Properties: never panics; failures are always ErrMalformedHash; anything
// that parses re-encodes to exactly the input (one canonical form), so a
// stored hash cannot be altered without detection by re-encoding.
//
// Seeds live in testdata/fuzz/FuzzVerifyMalformed plus the f.Add calls.
func FuzzVerifyMalformed(f *testing.F) {
	for _, s := range []string{
		"",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$ZCsdDuK3QTT3LyrMfATpXyDLZLlhuA+hqXbUFGi6Drw",
		"$argon2id$v=19$m=65536,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$AAAA$AAAA",
		"$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
	} {
		f.Add(s)
	}
	h, err := NewHasher(DefaultParams, 1)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, phc string) {
		parsed, err := parsePHC(phc)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("parse error not ErrMalformedHash: %v", err)
			}
			ok, rehash, verr := h.Verify(ctx, "correct horse battery staple", phc)
			if ok || rehash || !errors.Is(verr, ErrMalformedHash) {
				t.Fatalf("Verify on unparsable hash = (%v, %v, %v)", ok, rehash, verr)
			}
			return
		}
		if got := parsed.String(); got != phc {
			t.Fatalf("non-canonical input accepted: re-encodes to %q", got)
		}
		// Only run the real KDF on cheap parameter sets so fuzzing stays
		// fast; the parse bounds themselves are exercised above.
		if parsed.memory <= 64 && parsed.time <= 2 {
			if _, _, err := h.Verify(ctx, "correct horse battery staple", phc); err != nil {
				t.Fatalf("Verify on parsable hash: %v", err)
			}
		}
	})
}
