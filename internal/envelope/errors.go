package envelope

import "errors"

// Typed errors. Callers must use errors.Is: returned errors are wrapped with
// context ("envelope: ...: %w"). Messages never contain key material or
// plaintext.
var (
	// ErrMalformed reports a ciphertext, stream, wrapped key or keyring file
	// that is structurally invalid: too short, unknown format version or
	// unknown algorithm. Nothing was decrypted.
	ErrMalformed = errors.New("envelope: malformed input")

	// ErrAuth reports that authentication failed: the key commitment did
	// not match (wrong key), or the AEAD tag did not verify (tampering,
	// wrong Binding, wrong key, reordered or duplicated stream segments).
	// No plaintext is returned with this error.
	ErrAuth = errors.New("envelope: authentication failed")

	// ErrTruncated reports an encrypted stream that ended before its final
	// segment. Data already returned by the reader must be discarded.
	ErrTruncated = errors.New("envelope: stream truncated")

	// ErrUnknownKEKVersion reports an unwrap request for a KEK version that
	// the provider does not hold or that has been retired.
	ErrUnknownKEKVersion = errors.New("envelope: unknown or retired KEK version")

	// ErrKeyringPermissions reports a keyring file that is accessible by
	// group or others. A KEK that other local users can read defeats the
	// whole scheme, so loading is refused rather than warned about.
	ErrKeyringPermissions = errors.New("envelope: keyring file permissions too open")

	// ErrShredded is returned by the storage layer when a record's DEK row
	// no longer exists: the record was deliberately crypto-shredded and can
	// never be decrypted again. It is declared here so that every package
	// reports shredding with the same sentinel.
	ErrShredded = errors.New("envelope: record was crypto-shredded")

	// ErrTooLarge reports a plaintext longer than the limit given to
	// SealStream. The stream was left without its final segment, so what
	// was written does not open.
	ErrTooLarge = errors.New("envelope: stream longer than allowed")
)
