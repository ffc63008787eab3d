// Package hsm keeps the key-encryption keys in a hardware security module
// reached through PKCS#11 (github.com/ThalesGroup/crypto11): each KEK
// version is a non-extractable AES-256 key on the token, labelled
// "<key label>-v<version>", and wrapping a DEK is an AES-GCM operation
// the token performs, so the KEK never enters the portal's memory.
// Wrapped DEKs have the same format as the keyring's
// (envelope.WrapWithAEAD), so data keys move between the two by rewrap.
//
// PKCS#11 modules are C libraries: the provider needs a cgo build. A
// binary built with CGO_ENABLED=0 (make build) says so at start-up
// instead.
package hsm

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Config names the token and the keys on it (PORTAL_PKCS11_*).
type Config struct {
	// Module is the PKCS#11 library's path, for example
	// /usr/lib/softhsm/libsofthsm2.so.
	Module string
	// TokenLabel selects the token.
	TokenLabel string
	// PINFile holds the user PIN (a file, like a TLS key, so that it is
	// in no environment listing or process table).
	PINFile string
	// KeyLabel is the prefix of the KEK labels: "<KeyLabel>-v<version>".
	KeyLabel string
}

// DefaultKeyLabel is KeyLabel when none is given.
const DefaultKeyLabel = "secureportal-kek"

// ErrNoKeys is a token that holds no KEK version yet.
var ErrNoKeys = errors.New("hsm: the token holds no KEK yet")

func (c Config) pin() (string, error) {
	if c.Module == "" || c.TokenLabel == "" || c.PINFile == "" {
		return "", errors.New("hsm: PORTAL_PKCS11_MODULE, PORTAL_PKCS11_TOKEN_LABEL and PORTAL_PKCS11_PIN_FILE are all required with PORTAL_KEK_PROVIDER=pkcs11")
	}
	b, err := os.ReadFile(c.PINFile)
	if err != nil {
		return "", fmt.Errorf("hsm: PORTAL_PKCS11_PIN_FILE: %w", err)
	}
	pin := strings.TrimRight(string(b), "\r\n")
	if pin == "" {
		return "", fmt.Errorf("hsm: PORTAL_PKCS11_PIN_FILE %s is empty", c.PINFile)
	}
	return pin, nil
}

func (c Config) keyLabel() string {
	if c.KeyLabel == "" {
		return DefaultKeyLabel
	}
	return c.KeyLabel
}
