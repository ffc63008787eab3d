package envelope

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	mrand "math/rand/v2"
	"testing"
	"testing/iotest"
)

// Known answer: DEK 00..1f, salt 40..5f, testBinding, one final segment.
// Computed independently (Python `cryptography`) from stream.go's format.
const (
	streamKATHeader = "01" + "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f" +
		"67692eff78f0eeaf8c9ab4e124b07134f09f735f578cffc3993bbe05f06622cc" // commitment
	streamKAT      = streamKATHeader + "9e18e4dee491a745e12b69048af1765a83377ab30dec4a2a82a7616f9e40b7f0fd7860df"
	streamEmptyKAT = streamKATHeader + "bd9821da5753100351afa9605b62c99f"
)

func sealStream(t testing.TB, dek DEK, b Binding, pt []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewStreamWriter(&buf, dek, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(pt); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func openStream(dek DEK, b Binding, ct []byte) ([]byte, error) {
	r, err := NewStreamReader(bytes.NewReader(ct), dek, b)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestStreamKnownAnswer(t *testing.T) {
	for name, tc := range map[string]struct{ pt, want string }{
		"short": {"streaming attachment", streamKAT},
		"empty": {"", streamEmptyKAT},
	} {
		var buf bytes.Buffer
		w, err := newStreamWriter(&buf, testDEK(t), testBinding, &countingReader{next: 0x40})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, tc.pt)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(buf.Bytes()); got != tc.want {
			t.Fatalf("%s: stream format drifted:\n got %s\nwant %s", name, got, tc.want)
		}
		pt, err := openStream(testDEK(t), testBinding, mustHex(t, tc.want))
		if err != nil || string(pt) != tc.pt {
			t.Fatalf("%s: open KAT = %q, %v", name, pt, err)
		}
	}
}

var streamSizes = []int{0, 1, SegmentSize - 1, SegmentSize, SegmentSize + 1, 2 * SegmentSize, 3 * SegmentSize, 3*SegmentSize + 7}

func TestStreamRoundTripsAtSegmentBoundaries(t *testing.T) {
	dek, _ := NewDEK()
	sizes := append(streamSizes, mrand.IntN(5*SegmentSize), mrand.IntN(5*SegmentSize))
	for _, n := range sizes {
		pt := randomBytes(t, n)
		ct := sealStream(t, dek, testBinding, pt)
		if int64(len(ct)) != StreamCiphertextSize(int64(n)) {
			t.Fatalf("n=%d: len(ct)=%d, StreamCiphertextSize=%d", n, len(ct), StreamCiphertextSize(int64(n)))
		}
		if got, err := StreamPlaintextSize(int64(len(ct))); err != nil || got != int64(n) {
			t.Fatalf("n=%d: StreamPlaintextSize = %d, %v", n, got, err)
		}
		got, err := openStream(dek, testBinding, ct)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("n=%d: mismatch", n)
		}
	}
}

func TestStreamRoundTripsWithAwkwardReadsAndWrites(t *testing.T) {
	dek := testDEK(t)
	pt := randomBytes(t, 2*SegmentSize+1234)
	// Write in odd-sized pieces.
	var buf bytes.Buffer
	w, _ := NewStreamWriter(&buf, dek, testBinding)
	for rest := pt; len(rest) > 0; {
		n := min(len(rest), 1+mrand.IntN(9000))
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	w.Close()
	ct := buf.Bytes()

	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"one byte": iotest.OneByteReader,
		"half":     iotest.HalfReader,
		"data err": iotest.DataErrReader,
	} {
		r, err := NewStreamReader(wrap(bytes.NewReader(ct)), dek, testBinding)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: mismatch (err %v)", name, err)
		}
	}
	r, _ := NewStreamReader(bytes.NewReader(ct), dek, testBinding)
	if err := iotest.TestReader(r, pt); err != nil {
		t.Fatal(err)
	}
}

// recordingWriter records the size of every Write call.
type recordingWriter struct {
	bytes.Buffer
	sizes []int
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	r.sizes = append(r.sizes, len(p))
	return r.Buffer.Write(p)
}

func TestStreamWriterEmitsOneWritePerSealedSegment(t *testing.T) {
	var rw recordingWriter
	w, _ := NewStreamWriter(&rw, testDEK(t), testBinding)
	w.Write(make([]byte, 2*SegmentSize+5))
	w.Close()
	want := []int{StreamHeaderSize, SealedSegmentSize, SealedSegmentSize, 5 + tagSize}
	if !slicesEqual(rw.sizes, want) {
		t.Fatalf("write sizes %v, want %v", rw.sizes, want)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write after Close must fail")
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// segments splits a stream ciphertext into header and sealed segments.
func segments(ct []byte) (hdr []byte, segs [][]byte) {
	hdr, body := ct[:StreamHeaderSize], ct[StreamHeaderSize:]
	for len(body) > SealedSegmentSize {
		segs = append(segs, body[:SealedSegmentSize])
		body = body[SealedSegmentSize:]
	}
	return hdr, append(segs, body)
}

func join(hdr []byte, segs ...[]byte) []byte {
	out := bytes.Clone(hdr)
	for _, s := range segs {
		out = append(out, s...)
	}
	return out
}

func expectStreamFailure(t *testing.T, name string, dek DEK, ct []byte, allowed ...error) {
	t.Helper()
	got, err := openStream(dek, testBinding, ct)
	if err == nil {
		t.Fatalf("%s: opened (%d bytes)", name, len(got))
	}
	for _, e := range allowed {
		if errors.Is(err, e) {
			return
		}
	}
	t.Fatalf("%s: got %v, want one of %v", name, err, allowed)
}

func TestStreamTruncatedAtSegmentBoundaryFails(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, 3*SegmentSize+100))
	hdr, segs := segments(ct)
	for k := 0; k < len(segs); k++ {
		expectStreamFailure(t, "keep first segments", dek, join(hdr, segs[:k]...), ErrTruncated)
	}
	expectStreamFailure(t, "header cut", dek, ct[:StreamHeaderSize-1], ErrTruncated)
	expectStreamFailure(t, "empty input", dek, nil, ErrTruncated)
}

func TestStreamTruncatedMidSegmentFails(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, 2*SegmentSize+100))
	for _, cut := range []int{1, tagSize - 1, tagSize, tagSize + 1, SealedSegmentSize / 2, SealedSegmentSize - 1, SealedSegmentSize + 1, 2*SealedSegmentSize + 50} {
		expectStreamFailure(t, "mid-segment cut", dek, ct[:StreamHeaderSize+cut], ErrTruncated, ErrAuth)
	}
	expectStreamFailure(t, "final tag cut", dek, ct[:len(ct)-1], ErrTruncated, ErrAuth)
}

func TestStreamFullSizeFinalSegmentTruncationIsDetected(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, 2*SegmentSize)) // final segment is full
	hdr, segs := segments(ct)
	expectStreamFailure(t, "drop full final segment", dek, join(hdr, segs[0]), ErrTruncated)
}

func TestStreamReorderedOrDuplicatedSegmentsFail(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, 3*SegmentSize+100))
	hdr, s := segments(ct)
	cases := map[string][]byte{
		"swap 0,1":          join(hdr, s[1], s[0], s[2], s[3]),
		"swap 1,2":          join(hdr, s[0], s[2], s[1], s[3]),
		"duplicate 0":       join(hdr, s[0], s[0], s[1], s[2], s[3]),
		"duplicate 2":       join(hdr, s[0], s[1], s[2], s[2], s[3]),
		"drop middle":       join(hdr, s[0], s[2], s[3]),
		"duplicate final":   join(hdr, s[0], s[1], s[2], s[3], s[3]),
		"final moved first": join(hdr, s[3], s[0], s[1], s[2]),
	}
	for name, bad := range cases {
		expectStreamFailure(t, name, dek, bad, ErrAuth, ErrTruncated)
	}
	// A segment spliced in from another stream under the same DEK and binding.
	other := sealStream(t, dek, testBinding, randomBytes(t, 3*SegmentSize+100))
	_, o := segments(other)
	expectStreamFailure(t, "spliced", dek, join(hdr, s[0], o[1], s[2], s[3]), ErrAuth)
}

func TestStreamTrailingDataFails(t *testing.T) {
	dek := testDEK(t)
	for _, n := range []int{0, 10, SegmentSize, 2 * SegmentSize} {
		ct := sealStream(t, dek, testBinding, randomBytes(t, n))
		for _, extra := range [][]byte{{0}, []byte("junk"), make([]byte, SealedSegmentSize), ct[StreamHeaderSize:]} {
			expectStreamFailure(t, "trailing", dek, append(bytes.Clone(ct), extra...), ErrAuth)
		}
	}
}

func TestStreamFailsWhenAnyHeaderOrSampledByteFlipped(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, SegmentSize+10))
	positions := []int{}
	for i := 0; i < StreamHeaderSize+32; i++ {
		positions = append(positions, i)
	}
	for i := 0; i < 200; i++ {
		positions = append(positions, mrand.IntN(len(ct)))
	}
	positions = append(positions, len(ct)-1, StreamHeaderSize+SealedSegmentSize-1)
	for _, i := range positions {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		expectStreamFailure(t, "flipped", dek, bad, ErrAuth, ErrMalformed)
	}
}

func TestStreamFailsWithWrongDEKOrBinding(t *testing.T) {
	ct := sealStream(t, testDEK(t), testBinding, []byte("x-ray.png"))
	if _, err := NewStreamReader(bytes.NewReader(ct), otherDEK(t), testBinding); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong DEK: %v", err)
	}
	b := testBinding
	b.RowID = "att-2"
	if _, err := NewStreamReader(bytes.NewReader(ct), testDEK(t), b); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong binding: %v", err)
	}
}

func TestStreamReaderErrorsAreSticky(t *testing.T) {
	dek := testDEK(t)
	ct := sealStream(t, dek, testBinding, randomBytes(t, 2*SegmentSize))
	ct[len(ct)-1] ^= 1
	r, err := NewStreamReader(bytes.NewReader(ct), dek, testBinding)
	if err != nil {
		t.Fatal(err)
	}
	_, err1 := io.ReadAll(r)
	n, err2 := r.Read(make([]byte, 10))
	if err1 == nil || !errors.Is(err2, ErrAuth) || n != 0 {
		t.Fatalf("err1=%v err2=%v n=%d", err1, err2, n)
	}
}

func TestStreamPlaintextSizeRejectsImpossibleSizes(t *testing.T) {
	for _, sz := range []int64{0, StreamHeaderSize, StreamHeaderSize + tagSize - 1, StreamHeaderSize + SealedSegmentSize + 5} {
		if _, err := StreamPlaintextSize(sz); !errors.Is(err, ErrMalformed) {
			t.Errorf("size %d: got %v", sz, err)
		}
	}
}

func TestSealStreamStopsOneBytePastItsLimit(t *testing.T) {
	dek := testDEK(t)
	pt := seqBytes(0, SegmentSize+5)
	var buf bytes.Buffer
	n, err := SealStream(&buf, dek, testBinding, bytes.NewReader(pt), int64(len(pt)))
	if err != nil || n != int64(len(pt)) {
		t.Fatalf("exactly at the limit: n = %d, err = %v", n, err)
	}
	if got, err := openStream(dek, testBinding, buf.Bytes()); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: err = %v, equal = %v", err, bytes.Equal(got, pt))
	}
	src := bytes.NewReader(append(pt, 'x', 'y'))
	buf.Reset()
	if _, err := SealStream(&buf, dek, testBinding, src, int64(len(pt))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: err = %v, want ErrTooLarge", err)
	}
	if src.Len() != 1 {
		t.Errorf("%d bytes left unread, want 1: reading must stop one byte past the limit", src.Len())
	}
	if _, err := openStream(dek, testBinding, buf.Bytes()); err == nil {
		t.Error("an unfinished stream opened")
	}
}
