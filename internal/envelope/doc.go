// Package envelope implements envelope encryption for the secure messaging
// portal: every protected record or attachment is encrypted under its own
// random data-encryption key (DEK), and each DEK is stored only in wrapped
// form, encrypted under a key-encryption key (KEK) held by a KEKProvider.
//
// Why envelope encryption (HIPAA §164.312(a)(2)(iv), §164.312(e)(2)(ii)):
//
//   - Crypto-shredding: deleting one wrapped DEK row makes every ciphertext
//     under it unrecoverable, even in database backups (see ErrShredded).
//   - KEK rotation only rewraps 61-byte DEK blobs, never bulk data.
//   - A database dump alone is useless: the KEK lives outside the database.
//
// Threat model for the ciphertext formats in this package:
//
//   - An attacker with write access to the database may copy, swap, replay,
//     truncate or flip bits in ciphertexts. Every ciphertext is bound (via
//     AEAD associated data) to the place it belongs — a Binding naming
//     purpose, table, column, row and thread — so moving it anywhere else
//     fails with ErrAuth.
//   - AES-GCM is not key-committing: a crafted ciphertext can decrypt
//     validly under two different keys. Each ciphertext therefore carries a
//     32-byte HKDF-derived key commitment that is checked in constant time
//     before any decryption is attempted.
//   - Attachments are encrypted with the STREAM construction (Hoang, Reyhanitabar,
//     Rogaway, Vizár 2015, as used by age and Tink streaming AEAD) so that
//     truncation, reordering, duplication and appended data are all
//     detected while memory use stays bounded to one segment.
//
// All formats are versioned and self-describing; known-answer tests pin
// their exact bytes so any format drift breaks the build rather than data.
//
// This package contains no storage code. Decoders never panic and never
// return unauthenticated plaintext; failures are reported with the typed
// errors in errors.go, testable with errors.Is.
package envelope
