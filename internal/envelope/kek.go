package envelope

import "errors"

// KEKProvider wraps and unwraps DEKs under key-encryption keys (KEKs).
//
// KEKs are versioned so they can be rotated without re-encrypting data:
// new DEKs are wrapped under CurrentVersion, old wrapped DEKs keep naming the
// version that can unwrap them, and a background job may rewrap them before
// the old version is retired. The storage layer must persist the returned
// version next to the wrapped bytes.
//
// aad is authenticated but not encrypted; pass WrapAAD(dataKeyID,
// ownerKind, ownerID) so a wrapped DEK cannot be moved to another data-key
// row or owner.
//
// Implementations must be safe for concurrent use and must report a version
// they cannot (or may no longer) use with ErrUnknownKEKVersion, and a
// wrapped blob that does not authenticate with ErrAuth. Unwrap returns the
// DEK tagged with the version it was unwrapped under (DEK.WithKEKVersion).
//
// The first implementation is *Keyring (a local 0600 key file). The
// interface is deliberately small so that a remote provider — a cloud KMS or
// HashiCorp Vault Transit, where the KEK never leaves the HSM and Wrap and
// Unwrap are network calls — can be added later without touching callers;
// such a provider would use DEK.Bytes and DEKFromBytes at its boundary.
type KEKProvider interface {
	// Wrap encrypts dek under the current KEK and returns that KEK's
	// version with the wrapped bytes.
	Wrap(aad []byte, dek DEK) (version uint32, wrapped []byte, err error)
	// Unwrap decrypts a DEK previously wrapped under KEK version with the
	// same aad.
	Unwrap(version uint32, aad, wrapped []byte) (DEK, error)
	// CurrentVersion is the version Wrap uses now.
	CurrentVersion() uint32
}

// Compile-time check that the local keyring satisfies the interface.
var _ KEKProvider = (*Keyring)(nil)

// NewWrappedDEK is the usual way to create a key for a new record: it
// generates a DEK, wraps it with p, and returns the DEK (tagged with the KEK
// version, so Seal records it) together with the version and wrapped bytes
// to persist.
func NewWrappedDEK(p KEKProvider, aad []byte) (dek DEK, version uint32, wrapped []byte, err error) {
	dek, err = NewDEK()
	if err != nil {
		return DEK{}, 0, nil, err
	}
	version, wrapped, err = p.Wrap(aad, dek)
	if err != nil {
		return DEK{}, 0, nil, err
	}
	return dek.WithKEKVersion(version), version, wrapped, nil
}

// Chain is the KEKs of a deployment moving from one provider to another:
// it wraps with Current, and unwraps with Current, or with Previous for a
// version Current does not hold (ErrUnknownKEKVersion).
type Chain struct {
	Current, Previous KEKProvider
}

var _ KEKProvider = Chain{}

func (c Chain) Wrap(aad []byte, dek DEK) (uint32, []byte, error) { return c.Current.Wrap(aad, dek) }

func (c Chain) Unwrap(version uint32, aad, wrapped []byte) (DEK, error) {
	dek, err := c.Current.Unwrap(version, aad, wrapped)
	if errors.Is(err, ErrUnknownKEKVersion) && c.Previous != nil {
		return c.Previous.Unwrap(version, aad, wrapped)
	}
	return dek, err
}

func (c Chain) CurrentVersion() uint32 { return c.Current.CurrentVersion() }
