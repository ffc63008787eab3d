package spool

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/envelope"
)

func TestRoundTripLeavesNothingOnDisk(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("PATIENT-MARKER lab results; "), 10_000) // several segments
	f, err := Write(dir, bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("spool left %d names in its directory; the file must be unlinked at once", len(entries))
	}
	if f.Size() != int64(len(data)) {
		t.Errorf("Size = %d, want %d", f.Size(), len(data))
	}
	for range 2 { // Open rewinds: the store may read a file again after a retry
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes (err %v), want the %d written", len(got), err, len(data))
		}
	}
}

func TestDiskHoldsOnlyCiphertext(t *testing.T) {
	f, err := Write(t.TempDir(), strings.NewReader(strings.Repeat("PATIENT-MARKER ", 1000)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	onDisk, err := io.ReadAll(io.NewSectionReader(f.f, 0, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(onDisk, []byte("PATIENT-MARKER")) {
		t.Error("the spooled file holds plaintext")
	}
}

func TestTamperedSpoolFailsToRead(t *testing.T) {
	f, err := Write(t.TempDir(), strings.NewReader(strings.Repeat("x", 100_000)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.f.ReadAt(b, envelope.StreamHeaderSize+10); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x01 // flip one bit: a changed byte whatever it was
	if _, err := f.f.WriteAt(b, envelope.StreamHeaderSize+10); err != nil {
		t.Fatal(err)
	}
	r, err := f.Open()
	if err == nil {
		_, err = io.ReadAll(r)
	}
	if !errors.Is(err, envelope.ErrAuth) {
		t.Errorf("reading a modified spool file: %v, want envelope.ErrAuth", err)
	}
}

func TestLimit(t *testing.T) {
	dir := t.TempDir()
	f, err := Write(dir, strings.NewReader("12345"), 5)
	if err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	f.Close()
	if _, err := Write(dir, strings.NewReader("123456"), 5); !errors.Is(err, ErrTooLarge) {
		t.Errorf("one byte over the limit: %v, want ErrTooLarge", err)
	}
}

// A broken upload's own error comes back unchanged, for the caller to
// classify (a client's broken form is not a server fault).
func TestReaderErrorComesBack(t *testing.T) {
	broken := errors.New("connection reset mid-file")
	_, err := Write(t.TempDir(), io.MultiReader(strings.NewReader("part"), &failingReader{broken}), 1<<20)
	if !errors.Is(err, broken) {
		t.Errorf("Write = %v, want the reader's error", err)
	}
}

func TestMissingDirectory(t *testing.T) {
	if _, err := Write("/nonexistent/spool", strings.NewReader("x"), 10); err == nil {
		t.Error("Write into a missing directory succeeded")
	}
}

type failingReader struct{ err error }

func (f *failingReader) Read([]byte) (int, error) { return 0, f.err }
