package deliverytest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"math/big"
	"testing"
)

// P-256 keys: quick to make, and usable with every TLS version a peer
// speaks, TLS 1.0 included.
func keyAndSerial() (*ecdsa.PrivateKey, *big.Int, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, fmt.Errorf("serial: %w", err)
	}
	return key, sn, nil
}

func mustKeyAndSerial(t testing.TB) (*ecdsa.PrivateKey, *big.Int) {
	t.Helper()
	key, sn, err := keyAndSerial()
	if err != nil {
		t.Fatalf("deliverytest: %v", err)
	}
	return key, sn
}
