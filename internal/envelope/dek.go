package envelope

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// DEKSize is the size of a data-encryption key in bytes (AES-256).
const DEKSize = 32

const redacted = "[REDACTED]"

// DEK is a data-encryption key. It is deliberately opaque and unprintable:
// fmt (every verb), slog and encoding/json all render it as "[REDACTED]" or
// refuse it, because a key that reaches a log file is a breach (HIPAA
// §164.312(b) audit logs are retained and widely readable).
//
// The key bytes sit behind a secretKey so that even reflection-based
// printing of a struct that holds a DEK in an unexported field (where fmt
// cannot call the methods below) shows only an address. The bytes are never mutated after construction, so DEK values
// are safe to copy and share between goroutines.
//
// A DEK also records the KEK version it was (un)wrapped under. That number
// is written into record headers purely for diagnostics (e.g. "which KEK
// version still has live records?"); it is not security relevant.
//
// The zero DEK is invalid; Seal, Open and the stream functions reject it.
type DEK struct {
	key        *secretKey
	kekVersion uint32
}

// secretKey keeps 32 key bytes two pointers away from any value that could
// be printed. fmt's reflective fallback (used for unexported fields, and for
// mismatched verbs such as %s on a pointer) dereferences at most one pointer
// level and prints deeper pointers as addresses, so the bytes are never
// reached.
//
// It also memoizes the HKDF-derived record keys (see record.go), so that a
// DEK served from a DEKCache does not pay for HKDF and AES key expansion on
// every record. The derived keys are exactly as sensitive as b and share its
// lifetime; they too sit behind a pointer.
type secretKey struct {
	b *[32]byte

	recordOnce sync.Once
	record     *recordKeySet
	recordErr  error
}

func newSecretKey(r io.Reader) (*secretKey, error) {
	k := &secretKey{b: new([32]byte)}
	if _, err := io.ReadFull(r, k.b[:]); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *secretKey) bytes() []byte { return k.b[:] }

// NewDEK returns a fresh random DEK from crypto/rand.
func NewDEK() (DEK, error) {
	return newDEK(rand.Reader)
}

func newDEK(r io.Reader) (DEK, error) {
	k, err := newSecretKey(r)
	if err != nil {
		return DEK{}, fmt.Errorf("envelope: generating DEK: %w", err)
	}
	return DEK{key: k}, nil
}

// DEKFromBytes copies b (which must be DEKSize bytes) into a DEK. It exists
// for KEKProvider implementations (e.g. a future KMS or Vault Transit
// provider) that receive plaintext key bytes from a remote service.
func DEKFromBytes(b []byte) (DEK, error) {
	if len(b) != DEKSize {
		return DEK{}, fmt.Errorf("envelope: DEK must be %d bytes, got %d: %w", DEKSize, len(b), ErrMalformed)
	}
	k := &secretKey{b: new([32]byte)}
	copy(k.b[:], b)
	return DEK{key: k}, nil
}

// Bytes returns a copy of the raw key. Only KEKProvider implementations
// should need it; never log, store or transmit the result unwrapped.
func (d DEK) Bytes() []byte {
	if d.key == nil {
		return nil
	}
	out := make([]byte, DEKSize)
	copy(out, d.key.bytes())
	return out
}

// Valid reports whether d holds a key (the zero DEK does not).
func (d DEK) Valid() bool { return d.key != nil }

// KEKVersion is the KEK version this DEK was wrapped or unwrapped under, or
// 0 if unknown. It is recorded in record headers for diagnostics only.
func (d DEK) KEKVersion() uint32 { return d.kekVersion }

// WithKEKVersion returns a copy of d tagged with KEK version v.
func (d DEK) WithKEKVersion(v uint32) DEK {
	d.kekVersion = v
	return d
}

func (d DEK) check() error {
	if d.key == nil {
		return errors.New("envelope: uninitialized DEK")
	}
	return nil
}

// String implements fmt.Stringer and never reveals key material.
func (DEK) String() string { return redacted }

// GoString implements fmt.GoStringer (%#v) and never reveals key material.
func (DEK) GoString() string { return redacted }

// Format implements fmt.Formatter so that every verb (%x, %d, %v, ...)
// prints "[REDACTED]" instead of falling back to reflection.
func (DEK) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue implements slog.LogValuer.
func (DEK) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText refuses to serialize a DEK (so json/xml/yaml encoders fail
// loudly instead of silently persisting or logging key bytes).
func (DEK) MarshalText() ([]byte, error) {
	return nil, errors.New("envelope: a DEK must never be serialized; wrap it with a KEKProvider")
}
