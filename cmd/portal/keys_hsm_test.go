//go:build cgo

package main

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/hsm/hsmtest"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// tokenEnv is keysEnv with PORTAL_KEK_PROVIDER=pkcs11 and a fresh SoftHSM2
// token; the keyring path stays set (it may or may not exist).
func tokenEnv(t *testing.T, dbURL string) (getenv func(string) string, keyring string, env map[string]string) {
	cfg := hsmtest.Token(t)
	_, keyring = keysEnv(t, dbURL)
	env = map[string]string{"PORTAL_DATABASE_URL": dbURL, "PORTAL_KEYRING": keyring, "PORTAL_LOG_LEVEL": "warn",
		"PORTAL_KEK_PROVIDER": "pkcs11", "PORTAL_PKCS11_MODULE": cfg.Module, "PORTAL_PKCS11_TOKEN_LABEL": cfg.TokenLabel,
		"PORTAL_PKCS11_PIN_FILE": cfg.PINFile}
	return func(k string) string { return env[k] }, keyring, env
}

// openAll opens every record through the KEKs the environment names, as
// a portal started with it would.
func openAll(t *testing.T, getenv func(string) string, url string, recs []sealedRecord) {
	t.Helper()
	ctx := context.Background()
	pool := testPool(t, url)
	k, err := openKEKs(ctx, testConfig(t, getenv), pool)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	store := postgres.NewDataKeys(pool, k.provider, 1, nil)
	for i, r := range recs {
		pt, err := store.OpenRecord(ctx, pool, r.keyID, r.owner, r.bind, r.ct)
		if err != nil || string(pt) != recordText(i) {
			t.Fatalf("record %d: %q, %v", i, pt, err)
		}
	}
}

// Moving a running deployment from the keyring file to the token, as an
// operator does it: migrate-to-hsm, rewrap, retire the keyring's version;
// then a rotation on the token; then back to a keyring file. Every record
// opens at every step.
func TestKeysMigrateFromTheKeyringToTheToken(t *testing.T) {
	url := pgtest.New(t)
	getenv, path, env := tokenEnv(t, url)
	keyringEnv := func(k string) string {
		if strings.HasPrefix(k, "PORTAL_KEK_PROVIDER") || strings.HasPrefix(k, "PORTAL_PKCS11_") {
			return ""
		}
		return env[k]
	}
	kr := initKeyring(t, keyringEnv, path)
	pool := testPool(t, url)
	recs := sealRecords(t, pool, kr, 5)

	if _, err := keys(t, getenv, "init"); err == nil || !strings.Contains(err.Error(), "migrate-to-hsm") {
		t.Errorf("init on the token beside a keyring: %v; want a pointer to migrate-to-hsm", err)
	}
	out, err := keys(t, getenv, "migrate-to-hsm")
	if err != nil || !strings.Contains(out, "created KEK version 2 on token") {
		t.Fatalf("migrate-to-hsm: %v\n%s", err, out)
	}
	openAll(t, getenv, url, recs) // the keyring's version 1, through the provider
	out, err = keys(t, getenv, "status")
	if err != nil || !strings.Contains(out, "decrypt-only") || !strings.Contains(out, "(on the token)") {
		t.Errorf("status: %v\n%s", err, out)
	}
	if out, err = keys(t, getenv, "rewrap"); err != nil || !strings.Contains(out, "every data key is wrapped by KEK version 2") {
		t.Fatalf("rewrap: %v\n%s", err, out)
	}
	if out, err = keys(t, getenv, "retire", "1"); err != nil || !strings.Contains(out, path) {
		t.Fatalf("retire the keyring's version: %v\n%s", err, out)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the keyring's last version retired, but the file is still there (%v)", err)
	}
	openAll(t, getenv, url, recs) // now the token alone

	// A rotation on the token, a rewrap, and the old token version retired.
	if out, err = keys(t, getenv, "rotate"); err != nil || !strings.Contains(out, "KEK version 3 is now active") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if _, err := keys(t, getenv, "retire", "2"); err == nil {
		t.Error("retire of a token version still in use was allowed")
	}
	if _, err := keys(t, getenv, "rewrap"); err != nil {
		t.Fatal(err)
	}
	if out, err = keys(t, getenv, "retire", "2"); err != nil || !strings.Contains(out, "token") {
		t.Fatalf("retire version 2: %v\n%s", err, out)
	}
	openAll(t, getenv, url, recs)

	// And back to a keyring file: the token (still named) only unwraps.
	env["PORTAL_KEK_PROVIDER"] = "keyring"
	if out, err = keys(t, getenv, "migrate-to-keyring"); err != nil || !strings.Contains(out, "KEK version 4 is active in keyring") {
		t.Fatalf("migrate-to-keyring: %v\n%s", err, out)
	}
	openAll(t, getenv, url, recs) // version 3 through the token
	if out, err = keys(t, getenv, "rewrap"); err != nil || !strings.Contains(out, "every data key is wrapped by KEK version 4") {
		t.Fatalf("rewrap back to the keyring: %v\n%s", err, out)
	}
	if out, err = keys(t, getenv, "retire", "3"); err != nil || !strings.Contains(out, "token") {
		t.Fatalf("retire the token's last version: %v\n%s", err, out)
	}
	openAll(t, keyringEnv, url, recs) // the keyring alone, no token named
}

// A new deployment on a token: init makes version 1 once; a portal will
// not start on a token without a KEK, nor with a wrong PIN.
func TestKeysInitOnATokenAndStartUpErrors(t *testing.T) {
	url := pgtest.New(t)
	getenv, _, env := tokenEnv(t, url)
	ctx := context.Background()
	pool := testPool(t, url)
	cfg := testConfig(t, getenv)
	if _, err := openKEKs(ctx, cfg, pool); err == nil || !strings.Contains(err.Error(), "portal keys init") {
		t.Errorf("start on an empty token: %v; want a pointer to `portal keys init`", err)
	}
	if out, err := keys(t, getenv, "init"); err != nil || !strings.Contains(out, "created KEK version 1 on token") {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if _, err := keys(t, getenv, "init"); err == nil || !strings.Contains(err.Error(), "already holds KEK version 1") {
		t.Errorf("second init: %v; want a refusal", err)
	}
	k, err := openKEKs(ctx, cfg, pool)
	if err != nil {
		t.Fatal(err)
	}
	k.close()
	env["PORTAL_PKCS11_PIN_FILE"] = writeFile(t, "wrong-pin\n")
	cfg, _ = config.Load(getenv)
	if _, err := openKEKs(ctx, cfg, pool); err == nil || !strings.Contains(err.Error(), "refused the PIN") {
		t.Errorf("start with a wrong PIN: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A portal serves with its KEKs on the token: the first data key it makes
// (the search index's key, at start-up) is wrapped there, and opens again.
func TestServeWithKEKsOnAToken(t *testing.T) {
	url := pgtest.NewEmpty(t)
	getenv, _, env := tokenEnv(t, url)
	if _, err := keys(t, getenv, "init"); err != nil {
		t.Fatal(err)
	}
	env["PORTAL_ORG_NAME"] = "Health Net"
	_, logs, stop := startServe(t, env)
	pool := testPool(t, url)
	var version int64
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := pool.QueryRow(context.Background(), `SELECT kek_version FROM data_keys WHERE owner_kind = 'search-key'`).Scan(&version)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the serving portal made no data key: %v\n%s", err, logs)
		}
	}
	stop()
	if version != 1 {
		t.Errorf("the portal's first data key is wrapped under version %d, want the token's 1", version)
	}
	// Its search works only if the key unwraps on the token again.
	k, err := openKEKs(context.Background(), testConfig(t, getenv), pool)
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	store := postgres.NewMessagingStore(pool, postgres.NewDataKeys(pool, k.provider, 1, nil), nil, postgres.MessagingLimits{})
	if _, err := store.IndexPending(context.Background(), 10); err != nil {
		t.Errorf("the search key did not open through the token: %v", err)
	}
}

// testConfig is the configuration getenv gives.
func testConfig(t *testing.T, getenv func(string) string) *config.Config {
	t.Helper()
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
