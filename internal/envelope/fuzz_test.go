package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// Fuzz targets for every decoder. Each asserts that the decoder never
// panics, reports failures with a typed error, and never returns success
// with a plaintext other than the one genuinely sealed (the only inputs
// that may open are the untouched seed ciphertexts).

const fuzzPlaintext = "fuzz: protected health information"

func fuzzRecord(t testing.TB) []byte {
	ct, err := seal(&countingReader{next: 0xa0}, testDEK(t).WithKEKVersion(7), testBinding, []byte(fuzzPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

func FuzzOpen(f *testing.F) {
	genuine := fuzzRecord(f)
	f.Add(genuine)
	f.Add(mustHex(f, recordKAT))
	f.Add([]byte{})
	f.Add(genuine[:RecordOverhead])
	f.Fuzz(func(t *testing.T, ct []byte) {
		pt, err := Open(testDEK(t), testBinding, ct)
		if err != nil {
			if pt != nil || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrAuth)) {
				t.Fatalf("bad failure: %v (pt %q)", err, pt)
			}
			return
		}
		switch {
		case bytes.Equal(ct, genuine) && string(pt) == fuzzPlaintext:
		case bytes.Equal(ct, mustHex(t, recordKAT)) && string(pt) == "hello, HIPAA":
		default:
			t.Fatalf("forged ciphertext opened: %x -> %q", ct, pt)
		}
	})
}

func fuzzStream(t testing.TB, pt []byte) []byte {
	var buf bytes.Buffer
	w, err := newStreamWriter(&buf, testDEK(t), testBinding, &countingReader{next: 0x40})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(pt)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzStreamReader(f *testing.F) {
	genuine := map[string]string{}
	for _, pt := range []string{"", fuzzPlaintext} {
		ct := fuzzStream(f, []byte(pt))
		genuine[string(ct)] = pt
		f.Add(ct)
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, ct []byte) {
		r, err := NewStreamReader(bytes.NewReader(ct), testDEK(t), testBinding)
		if err != nil {
			if !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrAuth) || errors.Is(err, ErrTruncated)) {
				t.Fatalf("untyped header error: %v", err)
			}
			return
		}
		pt, err := io.ReadAll(r)
		if err != nil {
			if !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrAuth) || errors.Is(err, ErrTruncated)) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		want, ok := genuine[string(ct)]
		if !ok || string(pt) != want {
			t.Fatalf("forged stream opened: %x -> %q", ct, pt)
		}
	})
}

func FuzzParseKeyring(f *testing.F) {
	k := fixedKeyring(f)
	data, _ := k.marshal(k.keys)
	f.Add(data)
	f.Add([]byte(`{"format":1,"keys":[{"version":1,"state":"active","key":"gIGCg4SFhoeIiYqLjI2Oj5CRkpOUlZaXmJmam5ydnp8="},{"version":2,"state":"retired"}]}`))
	f.Add([]byte(`{"format":1,"keys":[]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, current, err := parseKeyring(data)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		// Invariants of any accepted keyring.
		active := 0
		for v, e := range keys {
			if v == 0 {
				t.Fatal("version 0 accepted")
			}
			if (e.key == nil) != (e.state == KeyRetired) {
				t.Fatalf("v%d: state %q with key=%v", v, e.state, e.key != nil)
			}
			if e.state == KeyActive {
				active++
				if v != current {
					t.Fatal("current is not the active key")
				}
			}
		}
		if active != 1 {
			t.Fatalf("%d active keys accepted", active)
		}
		// Accepted files survive a save/parse round trip unchanged.
		kr := &Keyring{keys: keys, current: current}
		out, err := kr.marshal(keys)
		if err != nil {
			t.Fatal(err)
		}
		keys2, current2, err := parseKeyring(out)
		if err != nil || current2 != current || len(keys2) != len(keys) {
			t.Fatalf("round trip failed: %v", err)
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	aad := WrapAAD("dk-1", "patient", "p-42")
	genuine := mustHex(f, wrapKAT)
	f.Add(uint32(3), aad, genuine)
	f.Add(uint32(2), aad, genuine)
	f.Add(uint32(3), []byte{}, genuine[:10])
	f.Fuzz(func(t *testing.T, version uint32, aad2, wrapped []byte) {
		k := fixedKeyring(t)
		dek, err := k.Unwrap(version, aad2, wrapped)
		if err != nil {
			if dek.Valid() || !(errors.Is(err, ErrMalformed) || errors.Is(err, ErrAuth) || errors.Is(err, ErrUnknownKEKVersion)) {
				t.Fatalf("bad failure: %v", err)
			}
			return
		}
		if version != 3 || !bytes.Equal(aad2, aad) || !bytes.Equal(wrapped, genuine) ||
			!bytes.Equal(dek.Bytes(), testDEK(t).Bytes()) {
			t.Fatalf("forged wrapped key unwrapped: v%d aad=%x wrapped=%x", version, aad2, wrapped)
		}
	})
}
