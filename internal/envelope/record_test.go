package envelope

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"testing"
)

// Known answer: fixed DEK 00..1f, KEK version 7, nonce a0..ab, testBinding,
// plaintext "hello, HIPAA". The expected bytes were computed independently
// (Python `cryptography` + RFC 5869 HKDF) from the format description in
// record.go. Any format drift fails here.
const recordKAT = "0101" + "00000007" + "a0a1a2a3a4a5a6a7a8a9aaab" +
	"8a4d30127b128efbfaf57dcf29a15c34a7f59e197d30dd9aadd79bd1dfe5949e" + // commitment
	"a7a3aa3ab45ffe4c698e50d1" + "b03a85142b6e6b3c41c34ffbe7994939" // ciphertext || tag

func TestSealKnownAnswer(t *testing.T) {
	ct, err := seal(&countingReader{next: 0xa0}, testDEK(t).WithKEKVersion(7), testBinding, []byte("hello, HIPAA"))
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(ct); got != recordKAT {
		t.Fatalf("record format drifted:\n got %s\nwant %s", got, recordKAT)
	}
	pt, err := Open(testDEK(t), testBinding, mustHex(t, recordKAT))
	if err != nil || string(pt) != "hello, HIPAA" {
		t.Fatalf("Open(KAT) = %q, %v", pt, err)
	}
	if v, err := RecordKEKVersion(ct); err != nil || v != 7 {
		t.Fatalf("RecordKEKVersion = %d, %v", v, err)
	}
}

func TestSealOpenRoundTrips(t *testing.T) {
	dek, err := NewDEK()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 15, 16, 17, 1000, 64 << 10, 1 << 20} {
		pt := randomBytes(t, n)
		ct, err := Seal(dek, testBinding, pt)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != n+RecordOverhead {
			t.Fatalf("len(ct) = %d, want %d", len(ct), n+RecordOverhead)
		}
		got, err := Open(dek, testBinding, ct)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: round trip mismatch", n)
		}
	}
}

func TestSealUsesFreshNonceEachTime(t *testing.T) {
	a, _ := Seal(testDEK(t), testBinding, []byte("same"))
	b, _ := Seal(testDEK(t), testBinding, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext must differ")
	}
}

func TestOpenFailsWhenAnyByteFlipped(t *testing.T) {
	dek := testDEK(t)
	ct, err := Seal(dek, testBinding, []byte("protected health information"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(ct)
			bad[i] ^= mask
			pt, err := Open(dek, testBinding, bad)
			if err == nil || pt != nil {
				t.Fatalf("flipping byte %d with %#x opened", i, mask)
			}
			if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("byte %d: untyped error %v", i, err)
			}
		}
	}
}

func TestOpenFailsWithDifferentBinding(t *testing.T) {
	dek := testDEK(t)
	ct, err := Seal(dek, testBinding, []byte("note"))
	if err != nil {
		t.Fatal(err)
	}
	variants := map[string]func(*Binding){
		"other row":     func(b *Binding) { b.RowID = "msg-0002" },
		"other column":  func(b *Binding) { b.Column = "subject_ct" },
		"other table":   func(b *Binding) { b.Table = "drafts" },
		"other thread":  func(b *Binding) { b.ThreadID = "thr-0002" },
		"no thread":     func(b *Binding) { b.ThreadID = "" },
		"other purpose": func(b *Binding) { b.Purpose = "attachment-name" },
	}
	for name, mutate := range variants {
		b := testBinding
		mutate(&b)
		if _, err := Open(dek, b, ct); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: got %v, want ErrAuth", name, err)
		}
	}
}

func TestOpenFailsWithWrongDEK(t *testing.T) {
	ct, err := Seal(testDEK(t), testBinding, []byte("note"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(otherDEK(t), testBinding, ct)
	if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "commitment") {
		t.Fatalf("got %v, want ErrAuth from the key-commitment check", err)
	}
}

// A ciphertext whose GCM body is valid under DEK B but whose commitment
// names DEK A must open under neither: the commitment check rejects B before
// GCM runs, and GCM rejects A. This is the property that defeats
// "invisible salamander" (multi-key) ciphertexts.
func TestOpenRejectsCiphertextWhoseCommitmentNamesAnotherKey(t *testing.T) {
	a, b := testDEK(t), otherDEK(t)
	ctB, err := Seal(b, testBinding, []byte("for key B"))
	if err != nil {
		t.Fatal(err)
	}
	_, commitA, err := recordKeys(a)
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(ctB)
	copy(forged[18:50], commitA[:])
	// Re-seal the body so GCM is valid under B with the forged header.
	aeadB, _, _ := recordKeys(b)
	forged = aeadB.Seal(forged[:recordHeaderLen], forged[6:18], []byte("for key B"), testBinding.aadAfter(forged[:recordHeaderLen]))

	if _, err := Open(b, testBinding, forged); !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "commitment") {
		t.Fatalf("key B: got %v, want commitment mismatch", err)
	}
	if _, err := Open(a, testBinding, forged); !errors.Is(err, ErrAuth) {
		t.Fatalf("key A: got %v, want ErrAuth", err)
	}
}

func TestKeyCommitmentIsHKDFOfDEKWithDistinctLabel(t *testing.T) {
	dek := testDEK(t)
	aead, commit, err := recordKeys(dek)
	if err != nil || aead == nil {
		t.Fatal(err)
	}
	want, _ := hkdf.Key(sha256.New, dek.Bytes(), []byte(recordSalt), recordCommitInf, 32)
	encKey, _ := hkdf.Key(sha256.New, dek.Bytes(), []byte(recordSalt), recordKeyInfo, 32)
	if !bytes.Equal(commit[:], want) || bytes.Equal(want, encKey) || bytes.Equal(want, dek.Bytes()) {
		t.Fatal("commitment must be HKDF(DEK) under its own label, distinct from the encryption key")
	}
}

func TestOpenRejectsMalformedInput(t *testing.T) {
	dek := testDEK(t)
	good, _ := Seal(dek, testBinding, []byte("x"))
	cases := map[string][]byte{
		"nil":            nil,
		"empty":          {},
		"header only":    good[:recordHeaderLen],
		"one short":      good[:RecordOverhead-1],
		"bad version":    append([]byte{2}, good[1:]...),
		"bad algorithm":  append([]byte{1, 9}, good[2:]...),
		"version zero":   append([]byte{0}, good[1:]...),
		"algorithm zero": append([]byte{1, 0}, good[2:]...),
	}
	for name, ct := range cases {
		pt, err := Open(dek, testBinding, ct)
		if !errors.Is(err, ErrMalformed) || pt != nil {
			t.Errorf("%s: got (%v, %v), want ErrMalformed", name, pt, err)
		}
	}
}

func TestHeaderKEKVersionIsAuthenticated(t *testing.T) {
	dek := testDEK(t).WithKEKVersion(3)
	ct, _ := Seal(dek, testBinding, []byte("x"))
	if v, _ := RecordKEKVersion(ct); v != 3 {
		t.Fatalf("KEK version = %d, want 3", v)
	}
	binary.BigEndian.PutUint32(ct[2:6], 4)
	if _, err := Open(dek, testBinding, ct); !errors.Is(err, ErrAuth) {
		t.Fatalf("relabelled KEK version: got %v, want ErrAuth", err)
	}
}

func TestSealOpenConcurrentlyWithSharedDEK(t *testing.T) {
	dek, _ := DEKFromBytes(seqBytes(0x11, 32)) // fresh: derivation races here
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				ct, err := Seal(dek, testBinding, []byte("concurrent"))
				if err != nil {
					t.Error(err)
					return
				}
				if pt, err := Open(dek, testBinding, ct); err != nil || string(pt) != "concurrent" {
					t.Error("round trip failed", err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
