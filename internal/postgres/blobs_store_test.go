package postgres_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"testing"

	"github.com/healthnet/secureportal/internal/blobs"
	"github.com/healthnet/secureportal/internal/blobs/blobstest"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

// s3Fixture is the data key store with streams in a real S3 server
// (versitygw), and the bucket, to look behind the store.
func s3Fixture(t *testing.T) (*fixture, *blobstest.Server, *blobs.S3) {
	t.Helper()
	srv := blobstest.Start(t)
	bucket := srv.Bucket(t, "attachments")
	f := newFixture(t)
	f.keys.UseBlobs(bucket)
	return f, srv, bucket
}

func (f *fixture) objectExists(bucket *blobs.S3, id string) bool {
	f.t.Helper()
	ok, err := bucket.Exists(f.ctx, "streams/"+id)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// A stream goes to the bucket sealed, comes back byte for byte, and leaves
// nothing in data_chunks; shredding its key lists the object, and the
// garbage run deletes it.
func TestStreamInABucketRoundTripsAndIsDeletedWhenShredded(t *testing.T) {
	f, _, bucket := s3Fixture(t)
	data := make([]byte, 300<<10)
	rand.Read(data)
	id, n, err := f.writeStream(bytes.NewReader(data), 1<<20)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("write: %d bytes, %v", n, err)
	}
	if got, err := f.readStream(id); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %d bytes, %v; want the same %d bytes", len(got), err, len(data))
	}
	if !f.objectExists(bucket, id) || f.count(`SELECT count(*) FROM data_chunks WHERE data_key_id = $1`, id) != 0 {
		t.Fatal("the stream is not an object, or is in data_chunks too")
	}
	// What the bucket holds is ciphertext: no run of the plaintext in it.
	obj, err := bucket.Get(f.ctx, "streams/"+id)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(obj)
	obj.Close()
	if err != nil || bytes.Contains(stored, data[1000:1032]) {
		t.Fatalf("the object holds plaintext (or could not be read: %v)", err)
	}
	if f.count(`SELECT count(*) FROM blob_garbage`) != 0 {
		t.Error("a committed upload is still listed as garbage")
	}

	if err := f.keys.Shred(f.ctx, f.pool, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.readStream(id); !errors.Is(err, envelope.ErrShredded) {
		t.Errorf("read after shredding: %v, want ErrShredded", err)
	}
	if n, err := f.keys.CollectBlobGarbage(f.ctx, 10); err != nil || n != 1 {
		t.Fatalf("garbage run: %d deleted, %v; want 1", n, err)
	}
	if f.objectExists(bucket, id) || f.count(`SELECT count(*) FROM blob_garbage`) != 0 {
		t.Error("the shredded stream's object is still there, or still listed")
	}
}

// An upload whose transaction rolls back (here: too large) stays listed;
// an hour later the garbage run deletes whatever it left.
func TestAnUploadThatNeverCommittedIsCollected(t *testing.T) {
	f, _, _ := s3Fixture(t)
	if _, _, err := f.writeStream(&deterministicReader{n: 2 << 20}, 1<<20); !errors.Is(err, postgres.ErrTooLarge) {
		t.Fatalf("write of 2 MiB with a 1 MiB limit: %v", err)
	}
	if f.count(`SELECT count(*) FROM blob_garbage WHERE reason = 'upload'`) != 1 || f.count(`SELECT count(*) FROM stream_objects`) != 0 {
		t.Fatal("the rolled-back upload is not listed, or is recorded as stored")
	}
	if n, _ := f.keys.CollectBlobGarbage(f.ctx, 10); n != 0 {
		t.Error("an upload listed a moment ago was collected: it may still commit")
	}
	f.exec(`UPDATE blob_garbage SET since = now() - interval '2 hours'`)
	if n, err := f.keys.CollectBlobGarbage(f.ctx, 10); err != nil || n != 1 {
		t.Errorf("garbage run after an hour: %d deleted, %v; want 1", n, err)
	}
}

// With the bucket out of reach an upload fails as unavailable (nothing is
// stored: the transaction rolls back) and a download cannot start; once
// it is back, everything stored before is there.
func TestABucketOutageFailsClearlyAndLosesNothing(t *testing.T) {
	f, srv, _ := s3Fixture(t)
	data := make([]byte, 200<<10)
	rand.Read(data)
	before, _, err := f.writeStream(bytes.NewReader(data), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	_, _, err = f.writeStream(bytes.NewReader(data), 1<<20)
	if !errors.Is(err, postgres.ErrBlobsUnavailable) {
		t.Errorf("upload during the outage: %v, want ErrBlobsUnavailable", err)
	}
	if f.count(`SELECT count(*) FROM stream_objects`) != 1 {
		t.Error("an upload that failed was recorded as stored")
	}
	if _, err := f.readStream(before); !errors.Is(err, postgres.ErrBlobsUnavailable) {
		t.Errorf("download during the outage: %v, want ErrBlobsUnavailable", err)
	}
	srv.Restart()
	if got, err := f.readStream(before); err != nil || !bytes.Equal(got, data) {
		t.Errorf("after the outage the stream stored before it: %d bytes, %v", len(got), err)
	}
}

// A memory-flatness check, not a timing assertion: 100 MiB go to the
// bucket and come back without ever being held whole (one 5 MiB part and
// a segment at a time).
func TestALargeStreamToTheBucketKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB round trip")
	}
	f, _, _ := s3Fixture(t)
	if growth := f.measuredRoundTrip(100<<20, "100 MiB through the bucket"); growth > 32<<20 {
		t.Errorf("heap grew by %.1f MiB for a 100 MiB stream; want < 32 MiB", float64(growth)/(1<<20))
	}
}

func (f *fixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatal(err)
	}
}
