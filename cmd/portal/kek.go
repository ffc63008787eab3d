package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/hsm"
	"github.com/healthnet/secureportal/internal/postgres"
)

// keks are the key-encryption keys the configuration names
// (PORTAL_KEK_PROVIDER): the keyring file, or an HSM token together with
// the keyring it may be moving from.
type keks struct {
	// provider wraps and unwraps: keyring or token.
	provider envelope.KEKProvider
	// keyring is the keyring file: the provider itself, or (pkcs11) the
	// one data keys are moving from; nil when there is none.
	keyring *envelope.Keyring
	// token is the HSM: the provider (pkcs11), or the one moved from.
	token *hsm.Provider
	// wrapsOnToken: PORTAL_KEK_PROVIDER=pkcs11.
	wrapsOnToken bool
	where        string
}

// loadKEKs opens the KEKs without checking them against the database.
func loadKEKs(kc config.KEK, keyringPath string) (*keks, error) {
	if kc.Provider != "pkcs11" {
		kr, err := loadKeyring(keyringPath)
		if err != nil {
			return nil, err
		}
		k := &keks{provider: kr, keyring: kr, where: "keyring " + keyringPath}
		if kc.PKCS11Module == "" {
			return k, nil
		}
		// Moving back from a token: it still unwraps what it holds.
		if k.token, err = hsm.OpenDecryptOnly(tokenConfig(kc)); err != nil {
			return nil, err
		}
		k.provider = envelope.Chain{Current: kr, Previous: k.token}
		k.where += " and PKCS#11 token " + kc.PKCS11TokenLabel
		return k, nil
	}
	k := &keks{where: "PKCS#11 token " + kc.PKCS11TokenLabel, wrapsOnToken: true}
	if _, err := os.Stat(keyringPath); err == nil {
		if k.keyring, err = loadKeyring(keyringPath); err != nil {
			return nil, err
		}
		k.where += " and keyring " + keyringPath
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("PORTAL_KEYRING: %w", err)
	}
	token, err := hsm.Open(tokenConfig(kc))
	if err != nil {
		return nil, err
	}
	k.provider, k.token = token, token
	if k.keyring != nil {
		// Moving to the token: the keyring still unwraps what it holds.
		k.provider = envelope.Chain{Current: token, Previous: k.keyring}
	}
	return k, nil
}

func tokenConfig(kc config.KEK) hsm.Config {
	return hsm.Config{Module: kc.PKCS11Module, TokenLabel: kc.PKCS11TokenLabel, PINFile: kc.PKCS11PINFile, KeyLabel: kc.PKCS11KeyLabel}
}

// Has reports whether some key here unwraps KEK version v.
func (k *keks) Has(v uint32) bool {
	return (k.token != nil && k.token.Has(v)) || (k.keyring != nil && k.keyring.Has(v))
}

// onToken: the token wraps (PORTAL_KEK_PROVIDER=pkcs11), rather than only
// unwrapping what it holds while the deployment moves back to a keyring.
func (k *keks) onToken() bool { return k.wrapsOnToken }

// newest is the highest version the deployment has made anywhere, so a
// new one is numbered after it.
func (k *keks) newest() uint32 {
	var v uint32
	if k.keyring != nil {
		for _, info := range k.keyring.Versions() {
			v = max(v, info.Version)
		}
	}
	if k.token != nil {
		v = max(v, k.token.CurrentVersion())
	}
	return v
}

func (k *keks) close() {
	if k.token != nil {
		k.token.Close()
	}
}

// openKEKs loads the KEKs and checks that they hold every KEK version the
// database references. The portal must refuse to start otherwise: a wrong
// or outdated keyring or token would turn stored messages into errors one
// page at a time instead of failing loudly once.
func openKEKs(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool) (*keks, error) {
	k, err := loadKEKs(cfg.KEK, cfg.KeyringPath)
	if err != nil {
		return nil, err
	}
	if k.onToken() && k.token.CurrentVersion() == 0 {
		k.close()
		return nil, fmt.Errorf("PORTAL_KEK_PROVIDER=pkcs11: token %q holds no KEK labelled %s-v<N>; run `portal keys init` (a new deployment) "+
			"or `portal keys migrate-to-hsm` (moving from PORTAL_KEYRING)", cfg.KEK.PKCS11TokenLabel, cfg.KEK.PKCS11KeyLabel)
	}
	if err := postgres.NewDataKeys(pool, k.provider, 1, nil).CheckKEKs(ctx, k, k.where); err != nil {
		k.close()
		return nil, fmt.Errorf("KEKs: %w", err)
	}
	return k, nil
}
