package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newTestKeyring(t *testing.T) (*Keyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keyring.json")
	k, err := InitKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return k, path
}

// fixedKeyring returns an in-memory keyring with KEK 80..9f at version 3
// and a deterministic nonce source starting at c0.
func fixedKeyring(t testing.TB) *Keyring {
	t.Helper()
	return &Keyring{
		rand:    &countingReader{next: 0xc0},
		current: 3,
		keys: map[uint32]kekEntry{3: {
			state: KeyActive,
			key:   &secretKey{b: (*[32]byte)(seqBytes(0x80, 32))},
		}},
	}
}

// Known answer for the keyring wrap format, computed independently
// (Python `cryptography`): KEK 80..9f v3, nonce c0..cb, DEK 00..1f,
// aad = WrapAAD("dk-1", "patient", "p-42").
const wrapKAT = "01" + "c0c1c2c3c4c5c6c7c8c9cacb" +
	"643d8281b8a8e5c40a263d444eac3e3f39d01852f615e44231f7b6a633ca739c" +
	"d3fc6c2468d6ab17d6de8b121d8ae5e0"

func TestKeyringWrapKnownAnswer(t *testing.T) {
	k := fixedKeyring(t)
	aad := WrapAAD("dk-1", "patient", "p-42")
	v, wrapped, err := k.Wrap(aad, testDEK(t))
	if err != nil {
		t.Fatal(err)
	}
	if v != 3 || hex.EncodeToString(wrapped) != wrapKAT {
		t.Fatalf("wrap format drifted: v=%d\n got %x\nwant %s", v, wrapped, wrapKAT)
	}
	if len(wrapped) != WrappedDEKSize {
		t.Fatalf("len = %d", len(wrapped))
	}
	dek, err := k.Unwrap(3, aad, mustHex(t, wrapKAT))
	if err != nil || !bytes.Equal(dek.Bytes(), testDEK(t).Bytes()) || dek.KEKVersion() != 3 {
		t.Fatalf("unwrap KAT: %v", err)
	}
}

func TestKeyringFileFormatKnownAnswer(t *testing.T) {
	k := fixedKeyring(t)
	e := k.keys[3]
	e.created = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	k.keys[3] = e
	k.keys[2] = kekEntry{state: KeyRetired, created: e.created}
	data, err := k.marshal(k.keys)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "format": 1,
  "keys": [
    {
      "version": 2,
      "state": "retired",
      "created_at": "2025-01-02T03:04:05Z"
    },
    {
      "version": 3,
      "state": "active",
      "created_at": "2025-01-02T03:04:05Z",
      "key": "gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8="
    }
  ]
}
`
	if string(data) != want {
		t.Fatalf("keyring file format drifted:\n%s", data)
	}
	keys, cur, err := parseKeyring(data)
	if err != nil || cur != 3 || len(keys) != 2 {
		t.Fatalf("parse: %v", err)
	}
}

func TestInitKeyringCreatesOwnerOnlyFile(t *testing.T) {
	k, path := newTestKeyring(t)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	if k.CurrentVersion() != 1 || !k.Has(1) {
		t.Fatal("new keyring must have active version 1")
	}
}

func TestInitKeyringRefusesToOverwrite(t *testing.T) {
	_, path := newTestKeyring(t)
	before, _ := os.ReadFile(path)
	if _, err := InitKeyring(path); err == nil {
		t.Fatal("InitKeyring overwrote an existing keyring")
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("existing keyring was modified")
	}
}

func TestLoadKeyringRefusesGroupOrOtherAccess(t *testing.T) {
	_, path := newTestKeyring(t)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o610} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKeyring(path)
		if !errors.Is(err, ErrKeyringPermissions) {
			t.Fatalf("mode %04o: got %v, want ErrKeyringPermissions", mode, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, path) || !strings.Contains(msg, fmt.Sprintf("%04o", mode)) || !strings.Contains(msg, "chmod 600") {
			t.Fatalf("message must name path, mode and the fix: %q", msg)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		os.Chmod(path, mode)
		if _, err := LoadKeyring(path); err != nil {
			t.Fatalf("mode %04o: %v", mode, err)
		}
	}
}

// Only a regular file is a keyring: a directory, or a FIFO that some other
// process feeds, is refused before anything is read.
func TestLoadKeyringRefusesWhatIsNotARegularFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keyring")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyring(dir); !errors.Is(err, ErrMalformed) {
		t.Errorf("LoadKeyring(a directory) = %v, want ErrMalformed", err)
	}
}

func TestKeyringPersistsAcrossLoad(t *testing.T) {
	k, path := newTestKeyring(t)
	aad := WrapAAD("dk-1", "patient", "p-1")
	dek, _ := NewDEK()
	v, wrapped, err := k.Wrap(aad, dek)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := k2.Unwrap(v, aad, wrapped)
	if err != nil || !bytes.Equal(got.Bytes(), dek.Bytes()) {
		t.Fatalf("unwrap after reload: %v", err)
	}
}

func TestRotateActivatesNewVersionAndKeepsOldDecryptOnly(t *testing.T) {
	k, path := newTestKeyring(t)
	aad := WrapAAD("dk-1", "patient", "p-1")
	dek, _ := NewDEK()
	v1, w1, _ := k.Wrap(aad, dek)

	v2, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if v1 != 1 || v2 != 2 || k.CurrentVersion() != 2 {
		t.Fatalf("versions v1=%d v2=%d current=%d", v1, v2, k.CurrentVersion())
	}
	vs := k.Versions()
	if len(vs) != 2 || vs[0].State != KeyDecryptOnly || vs[1].State != KeyActive || vs[1].Version != 2 {
		t.Fatalf("Versions() = %+v", vs)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("rotated file mode = %v", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temp files left behind: %v", entries)
	}
	// New wraps use v2; old wraps still unwrap, also after reload.
	if v, _, _ := k.Wrap(aad, dek); v != 2 {
		t.Fatalf("wrap after rotate used v%d", v)
	}
	k2, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if k2.CurrentVersion() != 2 {
		t.Fatal("rotation not persisted")
	}
	if got, err := k2.Unwrap(v1, aad, w1); err != nil || !bytes.Equal(got.Bytes(), dek.Bytes()) {
		t.Fatalf("decrypt-only version must still unwrap: %v", err)
	}
}

// Another process (an admin command, another instance) rotates the shared
// keyring file and wraps under the new version. This process, which read the
// file before, unwraps that DEK without a restart and wraps new DEKs under
// the new version once it has reloaded.
func TestReloadPicksUpAnotherProcessRotation(t *testing.T) {
	admin, path := newTestKeyring(t)
	server, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Reload(); err != nil || changed {
		t.Fatalf("Reload of an unchanged file = %v, %v; want false, nil", changed, err)
	}
	if _, err := admin.Rotate(); err != nil {
		t.Fatal(err)
	}
	aad := WrapAAD("dk-9", "message-body", "m-9")
	dek, _ := NewDEK()
	v, wrapped, _ := admin.Wrap(aad, dek)
	got, err := server.Unwrap(v, aad, wrapped)
	if err != nil || !bytes.Equal(got.Bytes(), dek.Bytes()) {
		t.Fatalf("unwrapping a DEK wrapped under the other process's new version: %v", err)
	}
	if server.CurrentVersion() != 2 {
		t.Errorf("after the reload this process wraps under v%d, want v2", server.CurrentVersion())
	}

	// A keyring file that fails the checks changes nothing in memory.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := server.Reload(); !errors.Is(err, ErrKeyringPermissions) || changed {
		t.Errorf("Reload of a world-readable file = %v, %v; want ErrKeyringPermissions", changed, err)
	}
	if _, err := server.Unwrap(v, aad, wrapped); err != nil {
		t.Errorf("keys in memory lost after a refused reload: %v", err)
	}
}

func TestRetiredVersionCannotUnwrap(t *testing.T) {
	k, path := newTestKeyring(t)
	aad := WrapAAD("dk-1", "patient", "p-1")
	dek, _ := NewDEK()
	_, w1, _ := k.Wrap(aad, dek)
	if err := k.Retire(1); err == nil {
		t.Fatal("retiring the active version must fail")
	}
	k.Rotate()
	if err := k.Retire(1); err != nil {
		t.Fatal(err)
	}
	if k.Has(1) || !k.Has(2) {
		t.Fatal("Has must reflect retirement")
	}
	for _, kr := range []*Keyring{k, mustLoad(t, path)} {
		_, err := kr.Unwrap(1, aad, w1)
		if !errors.Is(err, ErrUnknownKEKVersion) || !strings.Contains(err.Error(), "version 1") {
			t.Fatalf("got %v, want ErrUnknownKEKVersion naming version 1", err)
		}
	}
	raw, _ := os.ReadFile(path)
	if strings.Count(string(raw), `"key"`) != 1 {
		t.Fatalf("retired key material must be removed from the file:\n%s", raw)
	}
	if err := k.Retire(1); err != nil {
		t.Fatalf("retire is idempotent: %v", err)
	}
	if err := k.Retire(99); !errors.Is(err, ErrUnknownKEKVersion) {
		t.Fatalf("retire unknown: %v", err)
	}
	// Versions are never reused after retirement.
	if v, _ := k.Rotate(); v != 3 {
		t.Fatalf("rotate after retire gave v%d, want 3", v)
	}
}

func mustLoad(t *testing.T, path string) *Keyring {
	t.Helper()
	k, err := LoadKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestUnwrapUnknownVersionFails(t *testing.T) {
	k, _ := newTestKeyring(t)
	_, w, _ := k.Wrap(nil, testDEK(t))
	for _, v := range []uint32{0, 2, 4294967295} {
		if _, err := k.Unwrap(v, nil, w); !errors.Is(err, ErrUnknownKEKVersion) || !strings.Contains(err.Error(), fmt.Sprint(v)) {
			t.Fatalf("v%d: %v", v, err)
		}
	}
}

func TestUnwrapWithDifferentKeyringFails(t *testing.T) {
	a, _ := newTestKeyring(t)
	b, _ := newTestKeyring(t)
	aad := WrapAAD("dk-1", "patient", "p-1")
	v, w, _ := a.Wrap(aad, testDEK(t))
	if _, err := b.Unwrap(v, aad, w); !errors.Is(err, ErrAuth) {
		t.Fatalf("got %v, want ErrAuth", err)
	}
}

func TestUnwrapFailsForOtherDataKeyOrOwner(t *testing.T) {
	k, _ := newTestKeyring(t)
	v, w, _ := k.Wrap(WrapAAD("dk-1", "patient", "p-1"), testDEK(t))
	for _, aad := range [][]byte{WrapAAD("dk-2", "patient", "p-1"), WrapAAD("dk-1", "patient", "p-2"), WrapAAD("dk-1", "clinic", "p-1"), nil} {
		if _, err := k.Unwrap(v, aad, w); !errors.Is(err, ErrAuth) {
			t.Fatalf("got %v, want ErrAuth", err)
		}
	}
}

func TestUnwrapFailsWhenAnyByteFlipped(t *testing.T) {
	k, _ := newTestKeyring(t)
	v, w, _ := k.Wrap(nil, testDEK(t))
	for i := range w {
		bad := bytes.Clone(w)
		bad[i] ^= 0x01
		if _, err := k.Unwrap(v, nil, bad); !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("byte %d: %v", i, err)
		}
	}
	if _, err := k.Unwrap(v, nil, w[:len(w)-1]); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short blob: %v", err)
	}
}

func TestParseKeyringRejectsInvalidFiles(t *testing.T) {
	key := `"gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8="`
	cases := map[string]string{
		"empty":           ``,
		"not json":        `nope`,
		"wrong format":    `{"format":2,"keys":[{"version":1,"state":"active","key":` + key + `}]}`,
		"no keys":         `{"format":1,"keys":[]}`,
		"no active":       `{"format":1,"keys":[{"version":1,"state":"decrypt-only","key":` + key + `}]}`,
		"two active":      `{"format":1,"keys":[{"version":1,"state":"active","key":` + key + `},{"version":2,"state":"active","key":` + key + `}]}`,
		"duplicate":       `{"format":1,"keys":[{"version":1,"state":"active","key":` + key + `},{"version":1,"state":"decrypt-only","key":` + key + `}]}`,
		"version zero":    `{"format":1,"keys":[{"version":0,"state":"active","key":` + key + `}]}`,
		"short key":       `{"format":1,"keys":[{"version":1,"state":"active","key":"AAEC"}]}`,
		"bad base64":      `{"format":1,"keys":[{"version":1,"state":"active","key":"!!"}]}`,
		"bad state":       `{"format":1,"keys":[{"version":1,"state":"on","key":` + key + `}]}`,
		"retired w/ key":  `{"format":1,"keys":[{"version":1,"state":"active","key":` + key + `},{"version":2,"state":"retired","key":` + key + `}]}`,
		"unknown field":   `{"format":1,"extra":1,"keys":[{"version":1,"state":"active","key":` + key + `}]}`,
		"trailing data":   `{"format":1,"keys":[{"version":1,"state":"active","key":` + key + `}]} {}`,
		"negative format": `{"format":-1,"keys":[]}`,
	}
	for name, data := range cases {
		if _, _, err := parseKeyring([]byte(data)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: got %v, want ErrMalformed", name, err)
		}
	}
}

func TestKeyringNeverPrintsKeyMaterial(t *testing.T) {
	k := fixedKeyring(t)
	type holder struct{ k *Keyring }
	secret := "808182838485"
	for _, f := range []string{"%v", "%+v", "%s", "%x", "%#v"} {
		for _, v := range []any{k, holder{k}} {
			if s := fmt.Sprintf(f, v); strings.Contains(s, secret) || strings.Contains(s, "128 129 130") {
				t.Fatalf("%s leaked: %s", f, s)
			}
		}
	}
	// Also through an unexported pointer field.
	type holder2 struct{ k *Keyring }
	for _, f := range []string{"%v", "%+v", "%s", "%x", "%#v"} {
		if s := fmt.Sprintf(f, holder2{k}); strings.Contains(s, "128 129 130") {
			t.Fatalf("%s leaked: %s", f, s)
		}
	}
}

func TestKeyringIsSafeForConcurrentUse(t *testing.T) {
	k, path := newTestKeyring(t)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				aad := WrapAAD(fmt.Sprintf("dk-%d-%d", g, i), "patient", "p")
				dek, _ := NewDEK()
				v, w, err := k.Wrap(aad, dek)
				if err != nil {
					errs <- err
					return
				}
				got, err := k.Unwrap(v, aad, w)
				if err != nil || !bytes.Equal(got.Bytes(), dek.Bytes()) {
					errs <- fmt.Errorf("unwrap: %v", err)
					return
				}
				_ = k.Versions()
				_ = k.Has(v)
			}
		}(g)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5; i++ {
			if _, err := k.Rotate(); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := mustLoad(t, path).CurrentVersion(); got != 6 {
		t.Fatalf("current after 5 rotations = %d", got)
	}
}

func TestZeroKeyringFailsInsteadOfPanicking(t *testing.T) {
	var k Keyring
	if _, _, err := k.Wrap(nil, testDEK(t)); err == nil {
		t.Fatal("zero Keyring wrapped")
	}
	if _, err := k.Unwrap(1, nil, make([]byte, WrappedDEKSize)); !errors.Is(err, ErrUnknownKEKVersion) {
		t.Fatalf("got %v", err)
	}
}

// A chain wraps with its current provider and unwraps what only the
// previous one holds; a version neither holds stays unknown.
func TestChainUnwrapsWithThePreviousProvider(t *testing.T) {
	dir := t.TempDir()
	old, err := InitKeyring(filepath.Join(dir, "old"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := InitKeyringAt(filepath.Join(dir, "new"), 2)
	if err != nil {
		t.Fatal(err)
	}
	chain := Chain{Current: cur, Previous: old}
	aad := WrapAAD("k1", "test", "o1")
	_, v1, w1, err := NewWrappedDEK(old, aad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := chain.Unwrap(v1, aad, w1); err != nil {
		t.Errorf("unwrap of the previous provider's version: %v", err)
	}
	if _, v, _, err := NewWrappedDEK(chain, aad); err != nil || v != 2 {
		t.Errorf("wrap: version %d, %v; want the current provider's 2", v, err)
	}
	if _, err := chain.Unwrap(9, aad, w1); !errors.Is(err, ErrUnknownKEKVersion) {
		t.Errorf("unwrap of a version neither holds: %v, want ErrUnknownKEKVersion", err)
	}
	if v, err := cur.RotateAfter(7); err != nil || v != 8 {
		t.Errorf("RotateAfter(7): %d, %v; want 8", v, err)
	}
}
