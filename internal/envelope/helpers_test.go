package envelope

import (
	"encoding/hex"
	"io"
	"testing"
)

// countingReader is a deterministic "random" source for known-answer tests:
// it yields next, next+1, next+2, ... (mod 256).
type countingReader struct{ next byte }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

func seqBytes(start byte, n int) []byte {
	b := make([]byte, n)
	_, _ = (&countingReader{next: start}).Read(b)
	return b
}

// testDEK is the fixed DEK 00 01 02 ... 1f used by known-answer tests.
func testDEK(t testing.TB) DEK {
	t.Helper()
	d, err := DEKFromBytes(seqBytes(0x00, DEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func otherDEK(t testing.TB) DEK {
	t.Helper()
	d, err := DEKFromBytes(seqBytes(0x55, DEKSize))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var testBinding = Binding{
	Purpose:  "message-body",
	Table:    "messages",
	Column:   "body_ct",
	RowID:    "msg-0001",
	ThreadID: "thr-0001",
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(cryptoRand(), b); err != nil {
		t.Fatal(err)
	}
	return b
}
