//go:build cgo

package hsm_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/hsm"
	"github.com/healthnet/secureportal/internal/hsm/hsmtest"
)

func open(t *testing.T, cfg hsm.Config) *hsm.Provider {
	t.Helper()
	p, err := hsm.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func wrapped(t *testing.T, p envelope.KEKProvider, aad []byte) (envelope.DEK, uint32, []byte) {
	t.Helper()
	dek, v, w, err := envelope.NewWrappedDEK(p, aad)
	if err != nil {
		t.Fatal(err)
	}
	return dek, v, w
}

func TestWrapAndUnwrapOnTheToken(t *testing.T) {
	p := open(t, hsmtest.Token(t))
	if _, _, err := p.Wrap(nil, envelope.DEK{}); !errors.Is(err, hsm.ErrNoKeys) {
		t.Fatalf("wrap on an empty token: %v, want ErrNoKeys", err)
	}
	if v, err := p.Rotate(0); err != nil || v != 1 {
		t.Fatalf("first key: version %d, %v", v, err)
	}
	aad := envelope.WrapAAD("row-1", "message-body", "m-1")
	dek, v, w := wrapped(t, p, aad)
	if v != 1 || len(w) != envelope.WrappedDEKSize {
		t.Fatalf("wrapped under version %d into %d bytes", v, len(w))
	}
	got, err := p.Unwrap(v, aad, w)
	if err != nil || string(got.Bytes()) != string(dek.Bytes()) {
		t.Fatalf("unwrap: %v (same key: %v)", err, err == nil && string(got.Bytes()) == string(dek.Bytes()))
	}
	if _, err := p.Unwrap(v, envelope.WrapAAD("row-2", "message-body", "m-1"), w); !errors.Is(err, envelope.ErrAuth) {
		t.Errorf("unwrap for another row: %v, want ErrAuth", err)
	}
	w[len(w)-1] ^= 1
	if _, err := p.Unwrap(v, aad, w); !errors.Is(err, envelope.ErrAuth) {
		t.Errorf("unwrap of a changed blob: %v, want ErrAuth", err)
	}
}

// The KEK is made on the token as sensitive and not extractable: the
// token will not hand it out, to the portal or anyone.
func TestTheKEKCannotLeaveTheToken(t *testing.T) {
	cfg := hsmtest.Token(t)
	p := open(t, cfg)
	if _, err := p.Rotate(0); err != nil {
		t.Fatal(err)
	}
	ctx := pkcs11.New(hsmtest.Module)
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		t.Fatal(err)
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	for _, slot := range slots {
		info, err := ctx.GetTokenInfo(slot)
		if err != nil || info.Label != cfg.TokenLabel {
			continue
		}
		s, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		defer ctx.CloseSession(s)
		if err := ctx.Login(s, pkcs11.CKU_USER, hsmtest.PIN); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
			t.Fatal(err)
		}
		if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, hsm.DefaultKeyLabel+"-v1")}); err != nil {
			t.Fatal(err)
		}
		objs, _, err := ctx.FindObjects(s, 2)
		ctx.FindObjectsFinal(s)
		if err != nil || len(objs) != 1 {
			t.Fatalf("found %d keys labelled %s-v1: %v", len(objs), hsm.DefaultKeyLabel, err)
		}
		attrs, err := ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil)})
		if err != nil {
			t.Fatal(err)
		}
		if attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 {
			t.Errorf("KEK: sensitive %v, extractable %v; want sensitive and not extractable", attrs[0].Value, attrs[1].Value)
		}
		if _, err := ctx.GetAttributeValue(s, objs[0], []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil)}); err == nil {
			t.Error("the token gave out the KEK's value")
		}
		return
	}
	t.Fatalf("token %q not found", cfg.TokenLabel)
}

func TestRotateRetireAndAnotherProcess(t *testing.T) {
	cfg := hsmtest.Token(t)
	p := open(t, cfg)
	p.Rotate(0)
	aad := envelope.WrapAAD("row-1", "thread-subject", "t-1")
	_, v1, w1 := wrapped(t, p, aad)
	if v, err := p.Rotate(0); err != nil || v != 2 {
		t.Fatalf("rotate: version %d, %v; want 2", v, err)
	}
	_, v2, _ := wrapped(t, p, aad)
	if v2 != 2 {
		t.Fatalf("after rotation new keys are wrapped under %d, want 2", v2)
	}
	if _, err := p.Unwrap(v1, aad, w1); err != nil {
		t.Fatalf("a key wrapped before the rotation: %v", err)
	}
	// Another process (an instance started later) sees both versions.
	other := open(t, cfg)
	if other.CurrentVersion() != 2 || len(other.Versions()) != 2 {
		t.Fatalf("another process sees current %d of %v", other.CurrentVersion(), other.Versions())
	}
	if err := p.Retire(2); err == nil {
		t.Error("the active version was retired")
	}
	if err := p.Retire(1); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Unwrap(v1, aad, w1); !errors.Is(err, envelope.ErrUnknownKEKVersion) {
		t.Errorf("unwrap under a retired version: %v, want ErrUnknownKEKVersion", err)
	}
	// The other process finds out at its next use of version 1.
	if _, err := other.Unwrap(v1, aad, w1); err == nil {
		t.Error("another process still unwrapped under the destroyed version")
	}
}

// During a move from a keyring, versions the token never held are the
// keyring's; new keys are the token's, numbered after the keyring's.
func TestAKeyringIsReadDuringTheMoveToTheToken(t *testing.T) {
	kr, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "keyring.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Rotate(); err != nil { // the keyring is at version 2
		t.Fatal(err)
	}
	aad := envelope.WrapAAD("row-1", "message-body", "m-1")
	_, old, w := wrapped(t, kr, aad)
	p := open(t, hsmtest.Token(t))
	v, err := p.Rotate(kr.CurrentVersion())
	if err != nil || v != 3 {
		t.Fatalf("the token's first version: %d, %v; want 3", v, err)
	}
	chain := envelope.Chain{Current: p, Previous: kr}
	if _, err := chain.Unwrap(old, aad, w); err != nil {
		t.Errorf("a keyring-wrapped key through the chain: %v", err)
	}
	if p.Has(old) || !p.Has(3) || p.Has(4) {
		t.Errorf("token Has: %v %v %v, want false true false", p.Has(old), p.Has(3), p.Has(4))
	}
	if _, v, _ := wrapped(t, chain, aad); v != 3 {
		t.Errorf("new keys wrapped under %d, want the token's 3", v)
	}
}

func TestAWrongPINIsAClearStartUpError(t *testing.T) {
	cfg := hsmtest.Token(t)
	cfg.PINFile = filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(cfg.PINFile, []byte("not-the-pin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := hsm.Open(cfg)
	if err == nil || !strings.Contains(err.Error(), "refused the PIN") || strings.Contains(err.Error(), "not-the-pin") {
		t.Errorf("open with a wrong PIN: %v; want a clear error that does not print the PIN", err)
	}
	cfg = hsmtest.Token(t)
	cfg.TokenLabel = "no-such-token"
	if _, err := hsm.Open(cfg); err == nil || !strings.Contains(err.Error(), "no-such-token") {
		t.Errorf("open a missing token: %v; want it named", err)
	}
}
