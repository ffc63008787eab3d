package postgres_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

var attachmentBinding = envelope.Binding{Purpose: "attachment", Table: "attachments", Column: "content", RowID: "a1", ThreadID: "t1"}

var attachmentOwner = postgres.Owner{Kind: "attachment", ID: "a1", ThreadID: "t1"}

// writeStream stores r as a committed stream and returns its data key id.
func (f *fixture) writeStream(r io.Reader, maxBytes int64) (string, int64, error) {
	var id string
	var n int64
	err := pgx.BeginFunc(f.ctx, f.pool, func(tx pgx.Tx) error {
		var err error
		id, n, err = f.keys.WriteStream(f.ctx, tx, attachmentOwner, attachmentBinding, r, maxBytes)
		return err
	})
	return id, n, err
}

func (f *fixture) readStream(id string) ([]byte, error) {
	rc, err := f.keys.OpenStream(f.ctx, id, attachmentOwner, attachmentBinding)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

func (f *fixture) chunkCount(id string) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM data_chunks WHERE data_key_id = $1`, id).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// patterned returns n deterministic, non-repeating-per-segment bytes.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestStreamRoundTripsAtSegmentBoundaries(t *testing.T) {
	f := newFixture(t)
	const seg = envelope.SegmentSize
	for _, size := range []int{0, 1, seg, 3*seg + 5} {
		pt := patterned(size)
		id, n, err := f.writeStream(bytes.NewReader(pt), 10*seg)
		if err != nil || n != int64(size) {
			t.Fatalf("%d bytes: write: n=%d err=%v", size, n, err)
		}
		// Header row plus one row per segment (an empty stream has one).
		wantRows := 1 + max(1, (size+seg-1)/seg)
		if got := f.chunkCount(id); got != wantRows {
			t.Errorf("%d bytes: %d chunk rows, want %d", size, got, wantRows)
		}
		got, err := f.readStream(id)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: read back %d bytes, err=%v", size, len(got), err)
		}
	}
}

func TestStreamWithLastChunkDeletedFailsAsTruncated(t *testing.T) {
	f := newFixture(t)
	for _, size := range []int{envelope.SegmentSize, 3*envelope.SegmentSize + 5} {
		id, _, err := f.writeStream(bytes.NewReader(patterned(size)), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.pool.Exec(f.ctx, `DELETE FROM data_chunks WHERE data_key_id = $1
			AND seq = (SELECT max(seq) FROM data_chunks WHERE data_key_id = $1)`, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.readStream(id); !errors.Is(err, envelope.ErrTruncated) {
			t.Errorf("%d bytes, last chunk deleted: err = %v, want ErrTruncated", size, err)
		}
	}
}

func TestStreamWithMiddleChunkDeletedFails(t *testing.T) {
	f := newFixture(t)
	id, _, err := f.writeStream(bytes.NewReader(patterned(3*envelope.SegmentSize)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	f.pool.Exec(f.ctx, `DELETE FROM data_chunks WHERE data_key_id = $1 AND seq = 2`, id)
	if _, err := f.readStream(id); !errors.Is(err, envelope.ErrTruncated) && !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("middle chunk deleted: err = %v", err)
	}
}

func TestStreamWithSwappedChunksFails(t *testing.T) {
	f := newFixture(t)
	id, _, err := f.writeStream(bytes.NewReader(patterned(3*envelope.SegmentSize+5)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	// Three steps: the primary key is checked row by row.
	for _, move := range [][2]int{{1, -1}, {2, 1}, {-1, 2}} {
		_, err = f.pool.Exec(f.ctx, `UPDATE data_chunks SET seq = $3 WHERE data_key_id = $1 AND seq = $2`, id, move[0], move[1])
		if err != nil {
			t.Fatal(err)
		}
	}
	got, err := f.readStream(id)
	if !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("swapped segments: err = %v, want ErrAuth", err)
	}
	if len(got) != 0 {
		t.Errorf("%d bytes released before the swapped segment; want none (segment 1 is the first)", len(got))
	}
}

func TestStreamMovedToAnotherAttachmentFails(t *testing.T) {
	f := newFixture(t)
	id, _, err := f.writeStream(bytes.NewReader([]byte("scan.pdf contents")), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	other := attachmentBinding
	other.RowID = "a2"
	rc, err := f.keys.OpenStream(f.ctx, id, attachmentOwner, other)
	if err == nil {
		_, err = io.ReadAll(rc)
	}
	if !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("stream opened for another attachment row: %v, want ErrAuth", err)
	}
}

func TestStreamOverLimitIsTooLargeAndLeavesNothingAfterRollback(t *testing.T) {
	f := newFixture(t)
	const limit = 2*envelope.SegmentSize + 10
	// Exactly at the limit is fine.
	if _, n, err := f.writeStream(bytes.NewReader(patterned(limit)), limit); err != nil || n != limit {
		t.Fatalf("at the limit: n=%d err=%v", n, err)
	}
	f.pool.Exec(f.ctx, `DELETE FROM data_keys`)

	_, _, err := f.writeStream(bytes.NewReader(patterned(limit+1)), limit)
	if !errors.Is(err, postgres.ErrTooLarge) {
		t.Fatalf("one byte over: err = %v, want ErrTooLarge", err)
	}
	var keys, chunks int
	f.pool.QueryRow(f.ctx, `SELECT (SELECT count(*) FROM data_keys), (SELECT count(*) FROM data_chunks)`).Scan(&keys, &chunks)
	if keys != 0 || chunks != 0 {
		t.Fatalf("after rollback: %d data keys and %d chunks remain", keys, chunks)
	}
}

func TestShreddedStreamReportsErrShredded(t *testing.T) {
	f := newFixture(t)
	id, _, err := f.writeStream(bytes.NewReader(patterned(40*envelope.SegmentSize)), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	// Shredded while a download is half way: the next batch finds nothing.
	rc, err := f.keys.OpenStream(f.ctx, id, attachmentOwner, attachmentBinding)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, rc, envelope.SegmentSize); err != nil {
		t.Fatal(err)
	}
	if err := f.keys.Shred(f.ctx, f.pool, id); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, rc); !errors.Is(err, envelope.ErrShredded) {
		t.Errorf("reading on after shredding: %v, want ErrShredded", err)
	}
	if f.chunkCount(id) != 0 {
		t.Error("chunks survived shredding their key")
	}
	if _, err := f.keys.OpenStream(f.ctx, id, attachmentOwner, attachmentBinding); !errors.Is(err, envelope.ErrShredded) {
		t.Errorf("opening a shredded stream: %v, want ErrShredded", err)
	}
}

// deterministicReader yields n bytes of a fixed pattern without holding
// them: the test's own memory must not hide the store's.
type deterministicReader struct{ off, n int64 }

func (r *deterministicReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n-r.off)]
	for i := range p {
		p[i] = byte((r.off + int64(i)) * 31 >> 3)
	}
	r.off += int64(len(p))
	return len(p), nil
}

// heapPeak samples HeapAlloc until stopped and reports the maximum.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// A memory-flatness check, not a timing assertion: a 32 MiB attachment must
// go in and come out without ever being held whole.
func TestLargeStreamKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("32 MiB round trip")
	}
	f := newFixture(t)
	const size = 32 << 20
	if growth := f.measuredRoundTrip(size, "32 MiB stream"); growth > 16<<20 {
		t.Errorf("heap grew by %.1f MiB for a 32 MiB stream; want < 16 MiB", float64(growth)/(1<<20))
	}
}

// measuredRoundTrip writes size pattern bytes as a stream, reads them
// back, checks they are equal, logs the heap and returns its peak growth.
func (f *fixture) measuredRoundTrip(size int64, what string) int64 {
	t := f.t
	t.Helper()
	want := sha256.New()
	io.Copy(want, &deterministicReader{n: size})
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	stop := heapPeak()
	id, n, err := f.writeStream(&deterministicReader{n: size}, size)
	if err != nil || n != size {
		t.Fatalf("write: n=%d err=%v", n, err)
	}
	rc, err := f.keys.OpenStream(f.ctx, id, attachmentOwner, attachmentBinding)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	_, err = io.Copy(got, rc)
	rc.Close()
	peak := stop()
	if err != nil || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatalf("%s came back different (%v)", what, err)
	}
	growth := int64(peak) - int64(base.HeapAlloc)
	t.Logf("%s round trip: heap before %.1f MiB, peak %.1f MiB, growth %.1f MiB",
		what, float64(base.HeapAlloc)/(1<<20), float64(peak)/(1<<20), float64(growth)/(1<<20))
	return growth
}
