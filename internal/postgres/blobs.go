package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/envelope"
)

// BlobStore keeps sealed streams as objects (blobs.S3).
type BlobStore interface {
	Put(ctx context.Context, name string, r io.Reader) error
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	Delete(ctx context.Context, name string) error
}

// ErrBlobsUnavailable is object storage that did not take or give a
// stream: the upload is not stored (the caller's transaction must roll
// back), or the download cannot start.
var ErrBlobsUnavailable = errors.New("postgres: object storage unavailable")

// UseBlobs makes new streams objects in store. Streams already in
// data_chunks stay readable there (portal blobs migrate moves them).
func (d *DataKeys) UseBlobs(store BlobStore) { d.blobs = store }

// objectName is where data key id's stream lives in the bucket: the id
// only, so a name says nothing about the attachment.
func objectName(dataKeyID string) string { return "streams/" + dataKeyID }

// writeObject seals r into the object of data key id while it uploads,
// through a pipe: memory holds one segment here and one part in the
// client. The object is listed as garbage before the upload starts and
// struck off in tx, so an upload whose transaction rolls back (too
// large, a later failure, a crash) is deleted by the garbage job rather
// than left in the bucket.
func (d *DataKeys) writeObject(ctx context.Context, tx pgx.Tx, id string, dek envelope.DEK, b envelope.Binding, r io.Reader, maxBytes int64) (int64, error) {
	name := objectName(id)
	if err := d.listUpload(ctx, name); err != nil {
		return 0, err
	}
	pr, pw := io.Pipe()
	put := make(chan error, 1)
	go func() {
		err := d.blobs.Put(ctx, name, pr)
		if err != nil {
			err = fmt.Errorf("%w: %v", ErrBlobsUnavailable, err)
		}
		// A failed upload stops the sealing with its own error: the
		// stream writer returns what the pipe was closed with.
		pr.CloseWithError(cmpErr(err, io.ErrClosedPipe))
		put <- err
	}()
	size, err := envelope.SealStream(pw, dek, b, r, maxBytes)
	pw.CloseWithError(err) // nil: the upload sees the end of the stream
	if putErr := <-put; err == nil {
		err = putErr
	}
	if err != nil {
		return 0, err
	}
	return size, recordObject(ctx, tx, id, name)
}

// listUpload lists an object as garbage before its upload begins (outside
// any transaction), so that an upload never recorded is deleted later.
func (d *DataKeys) listUpload(ctx context.Context, name string) error {
	if _, err := d.pool.Exec(ctx, `INSERT INTO blob_garbage (name, reason) VALUES ($1, 'upload') ON CONFLICT (name) DO NOTHING`, name); err != nil {
		return fmt.Errorf("list upload: %w", err)
	}
	return nil
}

// recordObject makes object name data key id's stream, and strikes it off
// the garbage list, in tx.
func recordObject(ctx context.Context, tx pgx.Tx, id, name string) error {
	if _, err := tx.Exec(ctx, `INSERT INTO stream_objects (data_key_id, name) VALUES ($1, $2)`, id, name); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM blob_garbage WHERE name = $1`, name)
	return err
}

// objectOf tells whether data key id's stream is an object, and its name.
func (d *DataKeys) objectOf(ctx context.Context, id string) (string, bool, error) {
	var name string
	err := d.pool.QueryRow(ctx, `SELECT name FROM stream_objects WHERE data_key_id = $1`, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("postgres: datakeys: stream object: %w", err)
	}
	return name, true, nil
}

func (d *DataKeys) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
	if d.blobs == nil {
		return nil, fmt.Errorf("postgres: datakeys: stream %s is in object storage, but PORTAL_BLOB_URL is postgres: %w", name, ErrBlobsUnavailable)
	}
	obj, err := d.blobs.Get(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBlobsUnavailable, err)
	}
	return objectReader{obj}, nil
}

// objectReader says ErrBlobsUnavailable for any failure to read an object
// whose key still exists: the bucket is out of reach (or, worse, lost
// the object); either way the download cannot be given now.
type objectReader struct{ io.ReadCloser }

func (o objectReader) Read(p []byte) (int, error) {
	n, err := o.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", ErrBlobsUnavailable, err)
	}
	return n, err
}

// staleUpload is how long an upload's listing may stay before its object
// is taken for one whose transaction never committed.
const staleUpload = time.Hour

// CollectBlobGarbage deletes up to batch listed objects: those of
// shredded keys at once, those of uploads that never committed after
// staleUpload. A delete that fails stays listed for the next run. It
// returns how many objects it deleted.
func (d *DataKeys) CollectBlobGarbage(ctx context.Context, batch int) (int, error) {
	if d.blobs == nil {
		return 0, nil
	}
	rows, err := d.pool.Query(ctx, `SELECT name FROM blob_garbage
		WHERE reason = 'shredded' OR since < now() - $1::interval ORDER BY since LIMIT $2`, staleUpload.String(), batch)
	if err != nil {
		return 0, fmt.Errorf("postgres: blob garbage: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("postgres: blob garbage: %w", err)
	}
	deleted := 0
	for _, name := range names {
		if err := d.blobs.Delete(ctx, name); err != nil {
			return deleted, fmt.Errorf("postgres: blob garbage: %w", err)
		}
		if _, err := d.pool.Exec(ctx, `DELETE FROM blob_garbage WHERE name = $1`, name); err != nil {
			return deleted, fmt.Errorf("postgres: blob garbage: %w", err)
		}
		deleted++
	}
	return deleted, nil
}

// MoveStreamsToBlobs moves every stream still in data_chunks to the
// bucket, one at a time: the ciphertext is copied as it is (nothing is
// decrypted), read back and compared, and only then, in one transaction,
// recorded as an object and deleted from data_chunks. Interrupted, it
// resumes where it stopped; a stream shredded meanwhile is left listed as
// garbage. progress, if set, is told after each stream. A download in
// progress at the instant its stream moves fails once; the next one
// reads the object.
func (d *DataKeys) MoveStreamsToBlobs(ctx context.Context, progress func(moved int, bytes int64)) (int, error) {
	if d.blobs == nil {
		return 0, errors.New("postgres: move streams: no object storage configured")
	}
	moved := 0
	for {
		var id string
		err := d.pool.QueryRow(ctx, `SELECT c.data_key_id::text FROM data_chunks c
			WHERE c.seq = 0 AND NOT EXISTS (SELECT 1 FROM stream_objects o WHERE o.data_key_id = c.data_key_id)
			ORDER BY c.data_key_id LIMIT 1`).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return moved, nil
		}
		if err != nil {
			return moved, fmt.Errorf("postgres: move streams: %w", err)
		}
		n, err := d.moveStream(ctx, id)
		if err != nil {
			return moved, fmt.Errorf("postgres: move stream %s: %w", id, err)
		}
		moved++
		if progress != nil {
			progress(moved, n)
		}
	}
}

func (d *DataKeys) moveStream(ctx context.Context, id string) (int64, error) {
	name := objectName(id)
	if err := d.listUpload(ctx, name); err != nil {
		return 0, err
	}
	sum := sha256.New()
	counted := &countingReader{r: io.TeeReader(&chunkReader{ctx: ctx, q: d.pool, id: id}, sum)}
	if err := d.blobs.Put(ctx, name, counted); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBlobsUnavailable, err)
	}
	obj, err := d.blobs.Get(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBlobsUnavailable, err)
	}
	back := sha256.New()
	_, err = io.Copy(back, obj)
	obj.Close()
	if err != nil {
		return 0, fmt.Errorf("%w: read back: %v", ErrBlobsUnavailable, err)
	}
	if !bytes.Equal(sum.Sum(nil), back.Sum(nil)) {
		return 0, errors.New("the object read back differs from the rows: left in data_chunks")
	}
	return counted.n, pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id::text FROM data_keys WHERE id = $1 FOR UPDATE`, id).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // shredded meanwhile: the listing stays, the job deletes the copy
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM data_chunks WHERE data_key_id = $1`, id); err != nil {
			return err
		}
		return recordObject(ctx, tx, id, name)
	})
}

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
