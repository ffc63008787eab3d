package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"io"
)

// Record ciphertext format, version 1 (all integers big-endian):
//
//	offset size
//	0      1    format version = 1
//	1      1    algorithm      = AlgAES256GCMCommitted (1)
//	2      4    KEK version of the wrapping key (diagnostics only)
//	6      12   GCM nonce (random)
//	18     32   key commitment
//	50     n+16 AES-256-GCM ciphertext || tag
//
// GCM associated data = the 50 header bytes || Binding.AAD(), so every
// header byte is authenticated as well as the record's place.
//
// Key schedule (RFC 5869 HKDF-SHA256, salt = "secureportal/record/v1"):
//
//	encKey     = HKDF(DEK, salt, "secureportal/record/v1/aes-256-gcm-key", 32)
//	commitment = HKDF(DEK, salt, "secureportal/record/v1/key-commitment", 32)
//
// The commitment makes the scheme key-committing (CMT-1): GCM alone admits
// "invisible salamander" ciphertexts that decrypt under two keys; with the
// commitment, opening under a second key would require an HKDF collision.
// The DEK itself is never used directly as an AES key.
const (
	recordFormatV1 = 1

	// AlgAES256GCMCommitted identifies AES-256-GCM with an HKDF-SHA256
	// derived key and key commitment.
	AlgAES256GCMCommitted = 1

	nonceSize       = 12
	tagSize         = 16
	commitmentSize  = 32
	recordHeaderLen = 1 + 1 + 4 + nonceSize + commitmentSize

	// RecordOverhead is len(Seal(...)) - len(plaintext).
	RecordOverhead = recordHeaderLen + tagSize
)

const (
	recordSalt      = "secureportal/record/v1"
	recordKeyInfo   = "secureportal/record/v1/aes-256-gcm-key"
	recordCommitInf = "secureportal/record/v1/key-commitment"
)

// Seal encrypts plaintext under dek for the place described by b. The KEK
// version recorded in the header is dek.KEKVersion(). The result is
// len(plaintext)+RecordOverhead bytes and safe to store in any column.
func Seal(dek DEK, b Binding, plaintext []byte) ([]byte, error) {
	return seal(rand.Reader, dek, b, plaintext)
}

func seal(rnd io.Reader, dek DEK, b Binding, plaintext []byte) ([]byte, error) {
	if err := dek.check(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	aead, commit, err := recordKeys(dek)
	if err != nil {
		return nil, err
	}
	out := make([]byte, recordHeaderLen, recordHeaderLen+len(plaintext)+tagSize)
	out[0] = recordFormatV1
	out[1] = AlgAES256GCMCommitted
	binary.BigEndian.PutUint32(out[2:6], dek.KEKVersion())
	nonce := out[6 : 6+nonceSize]
	if _, err := io.ReadFull(rnd, nonce); err != nil {
		return nil, fmt.Errorf("envelope: generating nonce: %w", err)
	}
	copy(out[6+nonceSize:recordHeaderLen], commit[:])
	return aead.Seal(out, nonce, plaintext, b.aadAfter(out[:recordHeaderLen])), nil
}

// Open authenticates and decrypts a record produced by Seal. It fails with
// ErrMalformed for structurally invalid input and ErrAuth for a wrong key,
// a wrong Binding or any modification; no plaintext is returned on error.
func Open(dek DEK, b Binding, ct []byte) ([]byte, error) {
	if err := dek.check(); err != nil {
		return nil, err
	}
	if err := b.validate(); err != nil {
		return nil, err
	}
	if err := checkRecordHeader(ct); err != nil {
		return nil, err
	}
	aead, commit, err := recordKeys(dek)
	if err != nil {
		return nil, err
	}
	// Constant-time comparison before any decryption: a mismatch means the
	// wrong DEK (or a forged ciphertext) and we must not run GCM on it.
	if subtle.ConstantTimeCompare(commit[:], ct[6+nonceSize:recordHeaderLen]) != 1 {
		return nil, fmt.Errorf("envelope: open record: key commitment mismatch: %w", ErrAuth)
	}
	pt, err := aead.Open(make([]byte, 0, len(ct)-RecordOverhead), ct[6:6+nonceSize],
		ct[recordHeaderLen:], b.aadAfter(ct[:recordHeaderLen]))
	if err != nil {
		return nil, fmt.Errorf("envelope: open record: %w", ErrAuth)
	}
	return pt, nil
}

// RecordKEKVersion returns the KEK version recorded in a record header. The
// value is unauthenticated until Open succeeds; use it for diagnostics only.
func RecordKEKVersion(ct []byte) (uint32, error) {
	if err := checkRecordHeader(ct); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(ct[2:6]), nil
}

func checkRecordHeader(ct []byte) error {
	if len(ct) < RecordOverhead {
		return fmt.Errorf("envelope: record of %d bytes is shorter than the %d-byte minimum: %w", len(ct), RecordOverhead, ErrMalformed)
	}
	if ct[0] != recordFormatV1 {
		return fmt.Errorf("envelope: unsupported record format version %d: %w", ct[0], ErrMalformed)
	}
	if ct[1] != AlgAES256GCMCommitted {
		return fmt.Errorf("envelope: unsupported record algorithm %d: %w", ct[1], ErrMalformed)
	}
	return nil
}

// recordKeySet is the HKDF output for one DEK. cipher.AEAD values from
// crypto/cipher.NewGCM hold no per-call state, so one is shared by all
// goroutines using the DEK.
type recordKeySet struct {
	aead   cipher.AEAD
	commit [commitmentSize]byte
}

// recordKeys returns the record AES-GCM instance and key commitment for
// dek, deriving them on first use and memoizing them in the DEK.
func recordKeys(dek DEK) (cipher.AEAD, [commitmentSize]byte, error) {
	k := dek.key
	k.recordOnce.Do(func() { k.record, k.recordErr = deriveRecordKeys(k.bytes()) })
	if k.recordErr != nil {
		return nil, [commitmentSize]byte{}, k.recordErr
	}
	return k.record.aead, k.record.commit, nil
}

func deriveRecordKeys(dek []byte) (*recordKeySet, error) {
	aead, commit, err := deriveCommittedAEAD(dek, []byte(recordSalt), recordKeyInfo, recordCommitInf)
	if err != nil {
		return nil, err
	}
	return &recordKeySet{aead: aead, commit: commit}, nil
}

// deriveCommittedAEAD is the key schedule of both formats, records and
// streams: from key and salt, HKDF-SHA256 (RFC 5869) derives an AES-256-GCM
// key (info keyInfo) and the key commitment (info commitInfo). The
// intermediate secrets are cleared once the cipher holds its own schedule.
func deriveCommittedAEAD(key, salt []byte, keyInfo, commitInfo string) (cipher.AEAD, [commitmentSize]byte, error) {
	var commit [commitmentSize]byte
	prk, err := hkdf.Extract(sha256.New, key, salt)
	if err != nil {
		return nil, commit, fmt.Errorf("envelope: hkdf extract: %w", err)
	}
	defer clear(prk)
	encKey, err := hkdf.Expand(sha256.New, prk, keyInfo, 32)
	if err != nil {
		return nil, commit, fmt.Errorf("envelope: hkdf expand: %w", err)
	}
	defer clear(encKey)
	c, err := hkdf.Expand(sha256.New, prk, commitInfo, commitmentSize)
	if err != nil {
		return nil, commit, fmt.Errorf("envelope: hkdf expand: %w", err)
	}
	copy(commit[:], c)
	aead, err := newGCM(encKey)
	return aead, commit, err
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: aes: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("envelope: gcm: %w", err)
	}
	return aead, nil
}
