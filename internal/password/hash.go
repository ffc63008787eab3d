// Package password hashes, verifies and vets user passwords for the portal.
//
// Hashing uses argon2id (RFC 9106) encoded as a PHC string. A Hasher bounds
// how many argon2 computations run at once, because each one allocates
// Params.Memory KiB: without a bound, a burst of login attempts is a memory
// exhaustion attack. The policy (Check) follows NIST SP 800-63B-4 §3.1.1.2:
// length and blocklist rules only, no composition rules, no truncation.
//
// The package is pure: no database, no HTTP, no logging. Passwords never
// appear in returned errors.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8  // lanes
	SaltLen uint32 // bytes
	KeyLen  uint32 // bytes
}

// DefaultParams is the OWASP Password Storage Cheat Sheet baseline for
// argon2id: m=19456 KiB (19 MiB), t=2, p=1. It is also the floor NewHasher
// enforces. NIST SP 800-63B-4 §3.1.1.2 requires a salted, memory- or
// iteration-hard KDF tuned so that offline guessing is costly; 19 MiB x 2
// passes makes each GPU guess expensive while keeping a login at roughly
// tens of milliseconds on one core. A 16-byte salt (RFC 9106 §3.1, and
// NIST's >= 32-bit minimum) and 32-byte key (256 bits, above NIST's 112-bit
// floor) complete the defaults.
var DefaultParams = Params{
	Memory:  19456,
	Time:    2,
	Threads: 1,
	SaltLen: 16,
	KeyLen:  32,
}

// MaxBytes bounds the raw (pre-normalisation) password length accepted by
// Hash, Verify and Check. Policy allows 256 characters; a code point is at
// most 4 UTF-8 bytes, so every password the policy accepts fits. Inputs
// larger than this are attacker-controlled noise and are rejected before any
// normalisation or hashing work.
const MaxBytes = 4 * MaxLength

// Upper bounds for NewHasher so a configuration typo (m in bytes instead of
// KiB, say) fails fast instead of OOM-ing the server.
const (
	maxMemory = 1 << 20 // KiB (1 GiB)
	maxTime   = 16
)

// Hasher hashes and verifies passwords with a fixed parameter set and a
// bounded number of concurrent argon2 computations. It is safe for
// concurrent use.
type Hasher struct {
	params Params
	sem    chan struct{}
	dummy  phcHash

	// computeHook, when non-nil, runs inside the semaphore just before each
	// argon2 computation. Tests use it to observe and block in-flight work.
	computeHook func()
}

// NewHasher validates p and returns a Hasher that runs at most maxConcurrent
// argon2 computations at a time. Peak hashing memory is therefore bounded by
// maxConcurrent * p.Memory KiB; size it from the container's memory limit and
// core count (more concurrent computations than cores only adds latency).
//
// NewHasher computes one dummy hash up front (see VerifyDummy), so it takes
// as long as a single Hash call.
func NewHasher(p Params, maxConcurrent int) (*Hasher, error) {
	if err := validateParams(p); err != nil {
		return nil, err
	}
	if maxConcurrent < 1 {
		return nil, fmt.Errorf("password: maxConcurrent must be >= 1, got %d", maxConcurrent)
	}
	h := &Hasher{params: p, sem: make(chan struct{}, maxConcurrent)}

	// The dummy password is random and discarded: nobody can ever match it.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("password: generating dummy secret: %w", err)
	}
	dummy, err := h.derive(secret)
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

func validateParams(p Params) error {
	switch {
	case p.Memory < DefaultParams.Memory || p.Memory > maxMemory:
		return fmt.Errorf("%w: memory must be in [%d, %d] KiB", ErrInvalidParams, DefaultParams.Memory, maxMemory)
	case p.Time < DefaultParams.Time || p.Time > maxTime:
		return fmt.Errorf("%w: time must be in [%d, %d]", ErrInvalidParams, DefaultParams.Time, maxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be >= 1", ErrInvalidParams)
	case p.Memory < 8*uint32(p.Threads):
		return fmt.Errorf("%w: memory must be >= 8*threads KiB", ErrInvalidParams)
	case p.SaltLen < 16 || p.SaltLen > parseMaxSaltLen:
		return fmt.Errorf("%w: salt length must be in [16, %d] bytes", ErrInvalidParams, parseMaxSaltLen)
	case p.KeyLen < 32 || p.KeyLen > parseMaxKeyLen:
		return fmt.Errorf("%w: key length must be in [32, %d] bytes", ErrInvalidParams, parseMaxKeyLen)
	}
	return nil
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the argon2id PHC string for password using a fresh random
// salt. It blocks until a computation slot is free or ctx is done.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > MaxBytes {
		return "", ErrTooLong
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	out, err := h.derive(normalize(password))
	if err != nil {
		return "", err
	}
	return out.String(), nil
}

// Verify reports whether password matches the PHC string phc.
//
// needsRehash is true only when ok is true and phc was made with parameters
// (memory, time, threads, salt or key length) different from this Hasher's;
// the caller should then Hash the just-verified password and store the new
// string, which is how parameter upgrades roll out without a reset.
//
// A malformed phc yields an error wrapping ErrMalformedHash. A password longer
// than MaxBytes can never have been stored, so it yields ok=false without
// computing anything. The comparison is constant-time.
func (h *Hasher) Verify(ctx context.Context, password, phc string) (ok, needsRehash bool, err error) {
	stored, err := parsePHC(phc)
	if err != nil {
		return false, false, err
	}
	ok, err = h.verify(ctx, password, stored)
	if !ok || err != nil {
		return false, false, err
	}
	p := h.params
	needsRehash = stored.memory != p.Memory || stored.time != p.Time ||
		stored.threads != p.Threads || len(stored.salt) != int(p.SaltLen) ||
		len(stored.key) != int(p.KeyLen)
	return true, needsRehash, nil
}

// VerifyDummy performs the same work as Verify against a hash nobody knows
// the password for, and discards the result. Call it when the login names an
// account that does not exist (or is disabled) so that response time does not
// reveal whether the account exists (OWASP Authentication Cheat Sheet,
// "Authentication Responses"; the pattern Miniflux and others use). It
// returns only context errors.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.verify(ctx, password, h.dummy)
	return err
}

func (h *Hasher) verify(ctx context.Context, password string, stored phcHash) (bool, error) {
	if len(password) > MaxBytes {
		return false, nil
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	if h.computeHook != nil {
		h.computeHook()
	}
	got := argon2.IDKey(normalize(password), stored.salt, stored.time, stored.memory,
		stored.threads, uint32(len(stored.key)))
	return subtle.ConstantTimeCompare(got, stored.key) == 1, nil
}

// derive computes a new hash with a fresh salt. The caller must hold a
// semaphore slot (except NewHasher, which runs before the Hasher is shared).
func (h *Hasher) derive(secret []byte) (phcHash, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return phcHash{}, fmt.Errorf("password: generating salt: %w", err)
	}
	if h.computeHook != nil {
		h.computeHook()
	}
	key := argon2.IDKey(secret, salt, h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	return phcHash{
		memory: h.params.Memory, time: h.params.Time, threads: h.params.Threads,
		salt: salt, key: key,
	}, nil
}

// acquire takes a computation slot, giving up when ctx is done. An argon2
// computation itself cannot be interrupted, so cancellation only applies to
// the wait.
func (h *Hasher) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("password: waiting for hash slot: %w", err)
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("password: waiting for hash slot: %w", ctx.Err())
	}
}

func (h *Hasher) release() { <-h.sem }

// normalize applies Unicode NFKC before hashing, as NIST SP 800-63B-4
// §3.1.1.2 recommends, so that the same password typed on different
// platforms (precomposed vs combining accents, full-width forms) hashes to
// the same bytes. All bytes of the normalised password are hashed: nothing is
// truncated.
func normalize(password string) []byte {
	return norm.NFKC.Bytes([]byte(password))
}
