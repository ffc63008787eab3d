//go:build cgo

package hsm

import (
	"cmp"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ThalesGroup/crypto11"
	"github.com/miekg/pkcs11"

	"github.com/healthnet/secureportal/internal/envelope"
)

// Provider is an envelope.KEKProvider whose KEKs are keys on a PKCS#11
// token. A deployment moving from (or back to) a keyring puts the two in
// an envelope.Chain. Safe for concurrent use.
type Provider struct {
	ctx   *crypto11.Context
	label string

	// decryptOnly: the deployment has moved its KEKs off the token (to a
	// keyring); the token only unwraps, and any version may be retired.
	decryptOnly bool

	mu      sync.RWMutex
	keys    map[uint32]tokenKey
	current uint32
}

type tokenKey struct {
	key  *crypto11.SecretKey
	aead cipher.AEAD
}

var _ envelope.KEKProvider = (*Provider)(nil)

// Open logs in to the token and finds its KEK versions. A token without
// any KEK opens (so that `portal keys init` or
// `migrate-to-hsm` can make one); CurrentVersion is then 0 and Wrap fails
// with ErrNoKeys.
func Open(cfg Config) (*Provider, error) {
	pin, err := cfg.pin()
	if err != nil {
		return nil, err
	}
	ctx, err := crypto11.Configure(&crypto11.Config{Path: cfg.Module, TokenLabel: cfg.TokenLabel, Pin: pin})
	if err != nil {
		return nil, explain(cfg, err)
	}
	p := &Provider{ctx: ctx, label: cfg.keyLabel()}
	if _, err := p.Reload(); err != nil {
		ctx.Close()
		return nil, err
	}
	return p, nil
}

// OpenDecryptOnly opens the token of a deployment moving back to a
// keyring: it unwraps what it holds, wraps nothing, and lets any version
// be retired once no data key needs it.
func OpenDecryptOnly(cfg Config) (*Provider, error) {
	p, err := Open(cfg)
	if err != nil {
		return nil, err
	}
	p.decryptOnly = true
	return p, nil
}

// explain turns the token's refusals an operator can fix into sentences.
func explain(cfg Config, err error) error {
	var code pkcs11.Error
	switch {
	case errors.As(err, &code) && code == pkcs11.CKR_PIN_INCORRECT:
		return fmt.Errorf("hsm: token %q refused the PIN in PORTAL_PKCS11_PIN_FILE %s (CKR_PIN_INCORRECT)", cfg.TokenLabel, cfg.PINFile)
	case errors.As(err, &code) && code == pkcs11.CKR_PIN_LOCKED:
		return fmt.Errorf("hsm: token %q has locked its user PIN after wrong attempts (CKR_PIN_LOCKED); its security officer must unlock it", cfg.TokenLabel)
	case strings.Contains(err.Error(), "could not find a token"):
		return fmt.Errorf("hsm: no token labelled %q in PKCS#11 module %s: %w", cfg.TokenLabel, cfg.Module, err)
	}
	return fmt.Errorf("hsm: PKCS#11 module %s, token %q: %w", cfg.Module, cfg.TokenLabel, err)
}

// Close logs out and unloads the module.
func (p *Provider) Close() error { return p.ctx.Close() }

// Reload reads the token's KEK versions again (another process may have
// rotated) and reports whether they changed.
func (p *Provider) Reload() (bool, error) {
	found, err := p.ctx.FindAllKeys()
	if err != nil {
		return false, fmt.Errorf("hsm: list keys: %w", err)
	}
	keys := make(map[uint32]tokenKey)
	for _, k := range found {
		attr, err := p.ctx.GetAttribute(k, pkcs11.CKA_LABEL)
		if err != nil {
			return false, fmt.Errorf("hsm: read a key's label: %w", err)
		}
		v, ok := p.versionOf(string(attr.Value))
		if !ok {
			continue // another application's key
		}
		aead, err := k.NewGCM()
		if err != nil {
			return false, fmt.Errorf("hsm: KEK version %d: AES-GCM: %w", v, err)
		}
		keys[v] = tokenKey{key: k, aead: aead}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := !slices.Equal(slices.Sorted(maps.Keys(keys)), slices.Sorted(maps.Keys(p.keys)))
	p.keys = keys
	p.current = 0
	if len(keys) > 0 {
		p.current = slices.Max(slices.Collect(maps.Keys(keys)))
	}
	return changed, nil
}

func (p *Provider) versionOf(label string) (uint32, bool) {
	rest, ok := strings.CutPrefix(label, p.label+"-v")
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseUint(rest, 10, 32)
	return uint32(v), err == nil && v > 0
}

func (p *Provider) labelOf(v uint32) string {
	return p.label + "-v" + strconv.FormatUint(uint64(v), 10)
}

// CurrentVersion is the highest version on the token (0: none yet).
func (p *Provider) CurrentVersion() uint32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.current
}

// Wrap wraps dek under the current version, on the token.
func (p *Provider) Wrap(aad []byte, dek envelope.DEK) (uint32, []byte, error) {
	p.mu.RLock()
	v, k := p.current, p.keys[p.current]
	p.mu.RUnlock()
	if p.decryptOnly {
		return 0, nil, errors.New("hsm: the token is decrypt-only: the deployment wraps with its keyring now")
	}
	if v == 0 {
		return 0, nil, ErrNoKeys
	}
	out, err := envelope.WrapWithAEAD(k.aead, rand.Reader, v, aad, dek)
	if err != nil {
		return 0, nil, fmt.Errorf("hsm: wrap under KEK version %d: %w", v, err)
	}
	return v, out, nil
}

// Unwrap unwraps on the token; a version it does not hold (even after
// looking again) is ErrUnknownKEKVersion.
func (p *Provider) Unwrap(version uint32, aad, wrapped []byte) (envelope.DEK, error) {
	k, ok := p.key(version)
	if !ok {
		if changed, err := p.Reload(); err == nil && changed {
			k, ok = p.key(version)
		}
	}
	if ok {
		return envelope.UnwrapWithAEAD(k.aead, version, aad, wrapped)
	}
	return envelope.DEK{}, fmt.Errorf("hsm: KEK version %d is not on the token: %w", version, envelope.ErrUnknownKEKVersion)
}

func (p *Provider) key(v uint32) (tokenKey, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	k, ok := p.keys[v]
	return k, ok
}

// Has reports whether the token holds version v.
func (p *Provider) Has(v uint32) bool {
	_, ok := p.key(v)
	return ok
}

// Rotate makes a new KEK on the token, numbered after the token's
// versions and after (the highest any other provider of the deployment
// has used, so that numbers are never reused), and makes it current.
func (p *Provider) Rotate(after uint32) (uint32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := max(after, p.current) + 1
	for v := range p.keys {
		next = max(next, v+1)
	}
	label := []byte(p.labelOf(next))
	k, err := p.ctx.GenerateSecretKeyWithLabel(label, label, 256, crypto11.CipherAES)
	if err != nil {
		return 0, fmt.Errorf("hsm: generate KEK version %d: %w", next, err)
	}
	aead, err := k.NewGCM()
	if err != nil {
		return 0, fmt.Errorf("hsm: KEK version %d: AES-GCM: %w", next, err)
	}
	p.keys[next] = tokenKey{key: k, aead: aead}
	p.current = next
	return next, nil
}

// Versions lists the token's KEK versions (the current one active), for
// status pages; the token keeps no creation time the portal reads.
func (p *Provider) Versions() []envelope.KeyInfo {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out []envelope.KeyInfo
	for v := range p.keys {
		state := envelope.KeyDecryptOnly
		if v == p.current && !p.decryptOnly {
			state = envelope.KeyActive
		}
		out = append(out, envelope.KeyInfo{Version: v, State: state})
	}
	slices.SortFunc(out, func(a, b envelope.KeyInfo) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// Retire destroys version v on the token. The current version cannot be
// retired; the caller checks that no data key needs v
// (postgres.DataKeys.RetireKEK).
func (p *Provider) Retire(v uint32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k, ok := p.keys[v]
	switch {
	case !ok:
		return fmt.Errorf("hsm: KEK version %d is not on the token: %w", v, envelope.ErrUnknownKEKVersion)
	case v == p.current && !p.decryptOnly:
		return fmt.Errorf("hsm: KEK version %d is the active one; rotate first", v)
	}
	if err := k.key.Delete(); err != nil {
		return fmt.Errorf("hsm: destroy KEK version %d: %w", v, err)
	}
	delete(p.keys, v)
	return nil
}
