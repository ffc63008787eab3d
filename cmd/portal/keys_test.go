package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// keysEnv is the environment of an operator running `portal keys`.
func keysEnv(t *testing.T, dbURL string) (getenv func(string) string, keyring string) {
	keyring = filepath.Join(t.TempDir(), "portal.keyring")
	env := map[string]string{"PORTAL_DATABASE_URL": dbURL, "PORTAL_KEYRING": keyring, "PORTAL_LOG_LEVEL": "warn"}
	return func(k string) string { return env[k] }, keyring
}

func keys(t *testing.T, getenv func(string) string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := cmdKeys(context.Background(), args, getenv, &out, io.Discard)
	return out.String(), err
}

func TestKeysInitCreatesOwnerOnlyKeyringAndRefusesToOverwrite(t *testing.T) {
	getenv, path := keysEnv(t, "postgres://unused/db") // init needs no database
	out, err := keys(t, getenv, "init")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, path) {
		t.Errorf("output does not name the file: %q", out)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("keyring mode %04o, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(path)

	_, err = keys(t, getenv, "init")
	if err == nil || !strings.Contains(err.Error(), "refusing to overwrite") || !strings.Contains(err.Error(), path) {
		t.Fatalf("second init: %v; want a refusal naming the file", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("second init changed the keyring")
	}
}

func TestOpenKeyringRefusesGroupReadableKeyringSayingChmod600(t *testing.T) {
	pool := pgtest.NewPool(t)
	path := filepath.Join(t.TempDir(), "portal.keyring")
	if _, err := envelope.InitKeyring(path); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o644)
	_, err := openKEKs(context.Background(), &config.Config{KeyringPath: path}, pool)
	if !errors.Is(err, envelope.ErrKeyringPermissions) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v; want ErrKeyringPermissions saying chmod 600", err)
	}
	if !strings.Contains(err.Error(), "PORTAL_KEYRING") {
		t.Errorf("error does not name PORTAL_KEYRING: %v", err)
	}
}

func TestOpenKeyringMissingFileSaysRunKeysInit(t *testing.T) {
	pool := pgtest.NewPool(t)
	path := filepath.Join(t.TempDir(), "absent.keyring")
	_, err := openKEKs(context.Background(), &config.Config{KeyringPath: path}, pool)
	if err == nil || !strings.Contains(err.Error(), "portal keys init") || !strings.Contains(err.Error(), "PORTAL_KEYRING "+path) {
		t.Fatalf("err = %v; want PORTAL_KEYRING path and `portal keys init`", err)
	}
}

func TestOpenKeyringRefusesKeyringLackingAReferencedVersion(t *testing.T) {
	pool := pgtest.NewPool(t)
	path := filepath.Join(t.TempDir(), "portal.keyring")
	kr, err := envelope.InitKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	seedDataKeys(t, pool, kr, 2)
	if _, err := openKEKs(context.Background(), &config.Config{KeyringPath: path}, pool); err != nil {
		t.Fatalf("matching keyring refused: %v", err)
	}
	pool.Exec(context.Background(), `UPDATE data_keys SET kek_version = 4`)
	_, err = openKEKs(context.Background(), &config.Config{KeyringPath: path}, pool)
	if !errors.Is(err, envelope.ErrUnknownKEKVersion) || !strings.Contains(err.Error(), "version(s) 4") {
		t.Fatalf("err = %v; want one naming version 4", err)
	}
}

// seedDataKeys stores n records' data keys wrapped by kr's current version.
func seedDataKeys(t *testing.T, pool *pgxpool.Pool, kr *envelope.Keyring, n int) {
	t.Helper()
	sealRecords(t, pool, kr, n)
}

// sealedRecord is a record sealed for a test, to be opened again.
type sealedRecord struct {
	keyID string
	owner postgres.Owner
	bind  envelope.Binding
	ct    []byte
}

func recordText(i int) string { return "record " + fmt.Sprint(i) }

// sealRecords seals n records under data keys wrapped by kek's current
// version, each in its own transaction as the portal writes them.
func sealRecords(t *testing.T, pool *pgxpool.Pool, kek envelope.KEKProvider, n int) []sealedRecord {
	t.Helper()
	ctx := context.Background()
	store := postgres.NewDataKeys(pool, kek, 4, nil)
	var out []sealedRecord
	for i := range n {
		r := sealedRecord{owner: postgres.Owner{Kind: "test", ID: fmt.Sprint(i)},
			bind: envelope.Binding{Purpose: "test", Table: "t", Column: "c", RowID: fmt.Sprint(i)}}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r.keyID, r.ct, err = store.SealRecord(ctx, tx, r.owner, r.bind, []byte(recordText(i))); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// initKeyring runs `portal keys init` and loads the keyring it made.
func initKeyring(t *testing.T, getenv func(string) string, path string) *envelope.Keyring {
	t.Helper()
	if _, err := keys(t, getenv, "init"); err != nil {
		t.Fatal(err)
	}
	kr, err := envelope.LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// testPool is a pool on url, closed when the test ends.
func testPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// The rotation procedure as an operator runs it.
func TestKeysRotateRewrapStatusRetire(t *testing.T) {
	url := pgtest.New(t)
	getenv, path := keysEnv(t, url)
	kr := initKeyring(t, getenv, path)
	pool, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	seedDataKeys(t, pool, kr, 3)

	out, err := keys(t, getenv, "rotate")
	if err != nil || !strings.Contains(out, "KEK version 2 is now active") {
		t.Fatalf("rotate: %q %v", out, err)
	}
	_, err = keys(t, getenv, "retire", "1")
	if err == nil || !strings.Contains(err.Error(), "still wraps 3 data key") {
		t.Fatalf("retire before rewrap: %v; want a refusal naming the count", err)
	}
	out, err = keys(t, getenv, "status")
	if err != nil {
		t.Fatal(err)
	}
	assertStatusLine(t, out, "1", "decrypt-only", "3")
	assertStatusLine(t, out, "2", "active", "0")

	out, err = keys(t, getenv, "rewrap", "--batch", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rewrapped 2, 1 remaining\n", "rewrapped 3, 0 remaining\n", "every data key is wrapped by KEK version 2"} {
		if !strings.Contains(out, want) {
			t.Errorf("rewrap output lacks %q:\n%s", want, out)
		}
	}
	if out, err := keys(t, getenv, "retire", "1"); err != nil || !strings.Contains(out, "KEK version 1 retired") {
		t.Fatalf("retire after rewrap: %q %v", out, err)
	}
	out, _ = keys(t, getenv, "status")
	assertStatusLine(t, out, "1", "retired", "0")
	assertStatusLine(t, out, "2", "active", "3")
}

func assertStatusLine(t *testing.T, out string, fields ...string) {
	t.Helper()
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) >= 4 && f[0] == fields[0] && f[1] == fields[1] && f[len(f)-1] == fields[2] {
			return
		}
	}
	t.Errorf("status has no line version=%s state=%s keys=%s:\n%s", fields[0], fields[1], fields[2], out)
}

func TestKeysUsageErrors(t *testing.T) {
	getenv, _ := keysEnv(t, "postgres://unused/db")
	for _, args := range [][]string{nil, {"frobnicate"}, {"init", "extra"}, {"rewrap", "--batch", "x"},
		{"rewrap", "--batch", "0"}, {"rewrap", "--fast"}, {"retire"}, {"retire", "one"}, {"retire", "1", "2"}} {
		_, err := keys(t, getenv, args...)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), "Usage: portal keys") {
			t.Errorf("%q: %v; want a usage error with the keys usage", args, err)
		}
	}
}

func TestEnsureDevKeyringCreatesOnceWithOwnerOnlyDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".dev", "portal.keyring")
	if err := ensureDevKeyring(path); err != nil {
		t.Fatal(err)
	}
	dir, _ := os.Stat(filepath.Dir(path))
	file, _ := os.Stat(path)
	if dir.Mode().Perm() != 0o700 || file.Mode().Perm() != 0o600 {
		t.Fatalf("dir %04o file %04o; want 0700 and 0600", dir.Mode().Perm(), file.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if err := ensureDevKeyring(path); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("second call replaced the keyring")
	}
}
