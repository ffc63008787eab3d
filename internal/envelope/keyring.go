package envelope

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// KeyState is the lifecycle state of one KEK version.
type KeyState string

const (
	// KeyActive: the single version used to wrap new DEKs (and to unwrap).
	KeyActive KeyState = "active"
	// KeyDecryptOnly: a former active version, kept only to unwrap DEKs
	// that have not been rewrapped yet.
	KeyDecryptOnly KeyState = "decrypt-only"
	// KeyRetired: the key material has been destroyed; the version number
	// stays listed so it is never reused.
	KeyRetired KeyState = "retired"
)

// KeyInfo describes one KEK version; it never contains key material.
type KeyInfo struct {
	Version   uint32
	State     KeyState
	CreatedAt time.Time
}

const (
	keyringFormatV1 = 1
	kekSize         = 32
	maxKeyringFile  = 1 << 20

	wrapFormatV1 = 1
	// WrappedDEKSize is the size of a DEK wrapped by a Keyring:
	// format (1) || nonce (12) || AES-256-GCM(DEK) (32) || tag (16).
	WrappedDEKSize = 1 + nonceSize + DEKSize + tagSize
)

// Keyring is a KEKProvider backed by a local JSON file of versioned 256-bit
// AES keys. It is the simplest deployable option (the file is provisioned
// like a TLS private key, outside the database and its backups); see
// KEKProvider for the path to a KMS.
//
// File format (format version 1):
//
//	{"format":1,"keys":[{"version":1,"state":"active","created_at":"...","key":"<base64 std>"}, ...]}
//
// Exactly one key is active. Retired entries keep their version (so it is
// never reused) but carry no key material.
//
// Wrapped DEK format (see WrappedDEKSize): AES-256-GCM under the KEK with a
// random 96-bit nonce and associated data
// u8(1) || u32be(kekVersion) || aad, so a blob relabelled with another
// version, or moved to another data key (aad), fails with ErrAuth.
//
// A Keyring is safe for concurrent use within one process. Rotate and
// Retire rewrite the file atomically but do not coordinate between
// processes: run them from a single administrative command. Other processes
// see the change through Reload, which Unwrap calls by itself when it meets
// a version it does not know (another process has rotated and wrapped under
// the new version), and which servers also call now and then so that they
// wrap under the new active version.
type Keyring struct {
	path string
	rand io.Reader // nil means crypto/rand; tests inject a fixed reader

	mu      sync.RWMutex
	keys    map[uint32]kekEntry // copy-on-write: replaced, never mutated
	current uint32
}

type kekEntry struct {
	state   KeyState
	created time.Time
	key     *secretKey // nil when retired; see secretKey for why it is indirect
}

// InitKeyring creates a new keyring file at path, mode 0600, holding one
// active version (1). It refuses to overwrite an existing file, because
// replacing a keyring destroys every DEK wrapped under it.
func InitKeyring(path string) (*Keyring, error) { return InitKeyringAt(path, 1) }

// InitKeyringAt is InitKeyring with the first version numbered version: a
// deployment moving its KEKs back from an HSM numbers the keyring's after
// the token's, so that no version number means two keys.
func InitKeyringAt(path string, version uint32) (*Keyring, error) {
	if version == 0 {
		return nil, errors.New("envelope: key version 0 is reserved")
	}
	k := &Keyring{path: path}
	key, err := k.newKey()
	if err != nil {
		return nil, err
	}
	k.keys = map[uint32]kekEntry{version: {state: KeyActive, created: now(), key: key}}
	k.current = version
	data, err := k.marshal(k.keys)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("envelope: keyring %s already exists; refusing to overwrite: %w", path, err)
		}
		return nil, fmt.Errorf("envelope: creating keyring: %w", err)
	}
	err = writeSyncClose(f, data)
	if err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("envelope: writing keyring %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return k, nil
}

// LoadKeyring reads the keyring at path. It refuses (ErrKeyringPermissions)
// a file with any group or other permission bits: a KEK readable by other
// local accounts is a compromised KEK.
func LoadKeyring(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("envelope: opening keyring: %w", err)
	}
	defer f.Close()
	// Stat the opened file, not the path, so the checked file is the read file.
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("envelope: stat keyring %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("envelope: keyring %s is not a regular file: %w", path, ErrMalformed)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("envelope: keyring %s has mode %04o, accessible by group or others; run chmod 600 %s: %w",
			path, perm, path, ErrKeyringPermissions)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyringFile+1))
	if err != nil {
		return nil, fmt.Errorf("envelope: reading keyring %s: %w", path, err)
	}
	keys, current, err := parseKeyring(data)
	if err != nil {
		return nil, fmt.Errorf("envelope: keyring %s: %w", path, err)
	}
	return &Keyring{path: path, keys: keys, current: current}, nil
}

// Path returns the keyring file path.
func (k *Keyring) Path() string { return k.path }

// String identifies the keyring without revealing key material.
func (k *Keyring) String() string { return "envelope.Keyring(" + k.path + ")" }

// CurrentVersion returns the active KEK version.
func (k *Keyring) CurrentVersion() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Has reports whether version v is present and usable for unwrapping
// (active or decrypt-only). Retired and unknown versions report false.
func (k *Keyring) Has(v uint32) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.keys[v]
	return ok && e.key != nil
}

// Versions lists all versions, including retired ones, in ascending order.
func (k *Keyring) Versions() []KeyInfo {
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make([]KeyInfo, 0, len(k.keys))
	for _, v := range slices.Sorted(maps.Keys(k.keys)) {
		e := k.keys[v]
		out = append(out, KeyInfo{Version: v, State: e.state, CreatedAt: e.created})
	}
	return out
}

// Rotate adds a new random KEK version, makes it active, demotes the
// previously active version to decrypt-only and atomically rewrites the
// file. It returns the new version. Existing wrapped DEKs keep working;
// rewrap them (Unwrap + Wrap) before retiring the old version.
func (k *Keyring) Rotate() (uint32, error) { return k.RotateAfter(0) }

// RotateAfter is Rotate with the new version numbered after both the
// file's and after (the highest version another provider of the same
// deployment has used).
func (k *Keyring) RotateAfter(after uint32) (uint32, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	maxV := after
	for v := range k.keys {
		maxV = max(maxV, v)
	}
	if maxV == math.MaxUint32 {
		return 0, errors.New("envelope: keyring version space exhausted")
	}
	key, err := k.newKey()
	if err != nil {
		return 0, err
	}
	next := maps.Clone(k.keys)
	old := next[k.current]
	old.state = KeyDecryptOnly
	next[k.current] = old
	newV := maxV + 1
	next[newV] = kekEntry{state: KeyActive, created: now(), key: key}
	if err := k.save(next); err != nil {
		return 0, err
	}
	k.keys, k.current = next, newV
	return newV, nil
}

// Retire marks version v retired and destroys its key material in the file,
// so every DEK still wrapped under v becomes permanently unrecoverable. The
// caller must first verify that no stored DEK references v. The active
// version cannot be retired (Rotate first). Retiring an already retired
// version is a no-op.
func (k *Keyring) Retire(v uint32) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.keys[v]
	if !ok {
		return fmt.Errorf("envelope: retire KEK version %d: %w", v, ErrUnknownKEKVersion)
	}
	if e.state == KeyRetired {
		return nil
	}
	if v == k.current {
		return fmt.Errorf("envelope: cannot retire active KEK version %d; rotate first", v)
	}
	next := maps.Clone(k.keys)
	next[v] = kekEntry{state: KeyRetired, created: e.created}
	if err := k.save(next); err != nil {
		return err
	}
	k.keys = next
	return nil
}

// Wrap encrypts dek under the active KEK (see the Keyring doc for format).
func (k *Keyring) Wrap(aad []byte, dek DEK) (uint32, []byte, error) {
	if err := dek.check(); err != nil {
		return 0, nil, err
	}
	k.mu.RLock()
	version := k.current
	key := k.keys[version].key
	k.mu.RUnlock()
	if key == nil {
		return 0, nil, errors.New("envelope: keyring has no active key (use InitKeyring or LoadKeyring)")
	}

	aead, err := newGCM(key.bytes())
	if err != nil {
		return 0, nil, err
	}
	out, err := WrapWithAEAD(aead, k.randReader(), version, aad, dek)
	return version, out, err
}

// Unwrap decrypts a DEK wrapped under KEK version. It fails with
// ErrUnknownKEKVersion if version is unknown or retired, ErrMalformed if the
// blob is not a Keyring-wrapped DEK, and ErrAuth if it does not
// authenticate (wrong aad, tampering, or a different keyring file).
func (k *Keyring) Unwrap(version uint32, aad, wrapped []byte) (DEK, error) {
	e, ok := k.entry(version)
	if !ok {
		// Perhaps another process rotated since this one read the file.
		if changed, err := k.Reload(); err == nil && changed {
			e, ok = k.entry(version)
		}
	}
	if !ok || e.key == nil {
		return DEK{}, fmt.Errorf("envelope: unwrap with KEK version %d: %w", version, ErrUnknownKEKVersion)
	}
	aead, err := newGCM(e.key.bytes())
	if err != nil {
		return DEK{}, err
	}
	return UnwrapWithAEAD(aead, version, aad, wrapped)
}

// WrapWithAEAD wraps dek with aead, an AES-256-GCM under KEK version (the
// keyring's own, or one whose key stays in an HSM), in the format every
// KEK provider shares: format (1) || nonce (12) || GCM(DEK) || tag. The
// associated data binds the format, the version and aad.
func WrapWithAEAD(aead cipher.AEAD, rnd io.Reader, version uint32, aad []byte, dek DEK) ([]byte, error) {
	if err := dek.check(); err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceSize, WrappedDEKSize)
	out[0] = wrapFormatV1
	if _, err := io.ReadFull(rnd, out[1:]); err != nil {
		return nil, fmt.Errorf("envelope: generating wrap nonce: %w", err)
	}
	return aead.Seal(out, out[1:1+nonceSize], dek.key.bytes(), wrapAD(version, aad)), nil
}

// UnwrapWithAEAD reverses WrapWithAEAD: ErrMalformed for a blob of the
// wrong shape, ErrAuth for one that does not authenticate (another key,
// version or aad, or tampering).
func UnwrapWithAEAD(aead cipher.AEAD, version uint32, aad, wrapped []byte) (DEK, error) {
	if len(wrapped) != WrappedDEKSize || wrapped[0] != wrapFormatV1 {
		return DEK{}, fmt.Errorf("envelope: wrapped DEK has bad length or format: %w", ErrMalformed)
	}
	raw, err := aead.Open(nil, wrapped[1:1+nonceSize], wrapped[1+nonceSize:], wrapAD(version, aad))
	if err != nil {
		return DEK{}, fmt.Errorf("envelope: unwrap with KEK version %d: %w", version, ErrAuth)
	}
	dek, err := DEKFromBytes(raw)
	clear(raw)
	if err != nil {
		return DEK{}, err
	}
	return dek.WithKEKVersion(version), nil
}

func (k *Keyring) entry(version uint32) (kekEntry, bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	e, ok := k.keys[version]
	return e, ok
}

// Reload re-reads the keyring file, with the same checks as LoadKeyring,
// and reports whether its versions or their states changed. A file that
// fails the checks changes nothing: the keys in memory stay as they were.
// Versions are never reused, so a version's key material cannot change
// while its version stays.
func (k *Keyring) Reload() (changed bool, err error) {
	fresh, err := LoadKeyring(k.path)
	if err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	changed = fresh.current != k.current || len(fresh.keys) != len(k.keys)
	for v, e := range fresh.keys {
		old, ok := k.keys[v]
		changed = changed || !ok || old.state != e.state
	}
	if changed {
		k.keys, k.current = fresh.keys, fresh.current
	}
	return changed, nil
}

func wrapAD(version uint32, aad []byte) []byte {
	ad := make([]byte, 0, 5+len(aad))
	ad = append(ad, wrapFormatV1)
	ad = binary.BigEndian.AppendUint32(ad, version)
	return append(ad, aad...)
}

func (k *Keyring) randReader() io.Reader {
	if k.rand != nil {
		return k.rand
	}
	return rand.Reader
}

func (k *Keyring) newKey() (*secretKey, error) {
	key, err := newSecretKey(k.randReader())
	if err != nil {
		return nil, fmt.Errorf("envelope: generating KEK: %w", err)
	}
	return key, nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
