//go:build !cgo

package hsm

import (
	"errors"

	"github.com/healthnet/secureportal/internal/envelope"
)

var errNoCgo = errors.New("hsm: this portal binary was built without cgo (CGO_ENABLED=0), so it cannot load a PKCS#11 module; " +
	"build it with cgo (make build-hsm) to use PORTAL_KEK_PROVIDER=pkcs11")

// Provider cannot exist without cgo: Open always fails, so none of its
// methods is ever called on a real value.
type Provider struct{}

// Open fails: this binary cannot load a PKCS#11 module.
func Open(Config) (*Provider, error) { return nil, errNoCgo }

// OpenDecryptOnly fails as Open does.
func OpenDecryptOnly(Config) (*Provider, error) { return nil, errNoCgo }

func (*Provider) Close() error                                      { return errNoCgo }
func (*Provider) Reload() (bool, error)                             { return false, errNoCgo }
func (*Provider) CurrentVersion() uint32                            { return 0 }
func (*Provider) Has(uint32) bool                                   { return false }
func (*Provider) Versions() []envelope.KeyInfo                      { return nil }
func (*Provider) Retire(uint32) error                               { return errNoCgo }
func (*Provider) Rotate(uint32) (uint32, error)                     { return 0, errNoCgo }
func (*Provider) Wrap([]byte, envelope.DEK) (uint32, []byte, error) { return 0, nil, errNoCgo }
func (*Provider) Unwrap(uint32, []byte, []byte) (envelope.DEK, error) {
	return envelope.DEK{}, errNoCgo
}
