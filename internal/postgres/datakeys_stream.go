package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/envelope"
)

// ErrTooLarge reports a stream longer than the caller's limit. Nothing was
// committed by WriteStream: the caller must roll its transaction back.
var ErrTooLarge = errors.New("postgres: datakeys: stream larger than allowed")

// chunkBatch is how many data_chunks rows OpenStream fetches per query: at
// most about 1 MiB of ciphertext in memory at a time, whatever the size of
// the attachment, while still amortising the round trip.
const chunkBatch = 16

// WriteStream encrypts everything read from r under a fresh DEK bound to b
// and stores it in data_chunks, inside tx. Rows follow the stream writer's
// write calls: seq 0 holds the header, seq 1..n one sealed 64 KiB segment
// each. Memory is bounded by one segment plus the copy buffer, so a 100 MiB
// upload never becomes a 100 MiB bytea.
//
// If r yields more than maxBytes bytes, WriteStream stops reading and
// returns ErrTooLarge; rows already inserted belong to tx, which the caller
// rolls back. size is the plaintext length.
func (d *DataKeys) WriteStream(ctx context.Context, tx pgx.Tx, owner Owner, b envelope.Binding, r io.Reader, maxBytes int64) (dataKeyID string, size int64, err error) {
	id, dek, err := d.newDataKey(ctx, tx, owner)
	if err != nil {
		return "", 0, err
	}
	if d.blobs != nil {
		size, err = d.writeObject(ctx, tx, id, dek, b, r, maxBytes)
	} else {
		size, err = envelope.SealStream(&chunkWriter{ctx: ctx, tx: tx, id: id}, dek, b, r, maxBytes)
	}
	if errors.Is(err, envelope.ErrTooLarge) {
		return "", 0, fmt.Errorf("postgres: datakeys: write stream: more than %d bytes: %w", maxBytes, ErrTooLarge)
	}
	if err != nil {
		return "", 0, fmt.Errorf("postgres: datakeys: write stream: %w", err)
	}
	return id, size, nil
}

// OpenStream returns a reader of the plaintext of a stream written by
// WriteStream. Rows are fetched chunkBatch at a time by keyset on seq, and
// decrypted as they are read, so memory stays flat for any size.
//
// As with any streaming AEAD, bytes are released before the end has been
// authenticated: a consumer must treat what it has read as provisional until
// Read returns io.EOF, and discard it (e.g. abort the download) on any error.
// Truncation, reordering or a missing row fails with envelope.ErrTruncated
// or envelope.ErrAuth; a shredded stream with envelope.ErrShredded, here or
// on a later Read if it is shredded between two batches.
func (d *DataKeys) OpenStream(ctx context.Context, dataKeyID string, owner Owner, b envelope.Binding) (io.ReadCloser, error) {
	dek, err := d.dek(ctx, d.pool, dataKeyID, owner)
	if err != nil {
		return nil, err
	}
	var src io.Reader = &chunkReader{ctx: ctx, q: d.pool, id: dataKeyID}
	var closer io.Closer
	name, inBucket, err := d.objectOf(ctx, dataKeyID)
	if err != nil {
		return nil, err
	}
	if inBucket {
		obj, err := d.openObject(ctx, name)
		if err != nil {
			return nil, err
		}
		src, closer = obj, obj
	}
	sr, err := envelope.NewStreamReader(src, dek, b)
	if err != nil {
		if closer != nil {
			closer.Close()
		}
		d.logFailure("open stream", dataKeyID, owner, err)
		return nil, fmt.Errorf("postgres: datakeys: open stream: %w", err)
	}
	return &streamReadCloser{r: sr, d: d, id: dataKeyID, owner: owner, closer: closer}, nil
}

// chunkWriter turns each Write of the stream writer (the header, then one
// sealed segment per call, as envelope.NewStreamWriter documents) into one
// data_chunks row.
type chunkWriter struct {
	ctx context.Context
	tx  pgx.Tx
	id  string
	seq int32
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	// pgx encodes p into its send buffer before Exec returns, so the stream
	// writer may reuse p afterwards.
	_, err := w.tx.Exec(w.ctx, `INSERT INTO data_chunks (data_key_id, seq, ct) VALUES ($1, $2, $3)`, w.id, w.seq, p)
	if err != nil {
		return 0, fmt.Errorf("insert chunk %d: %w", w.seq, err)
	}
	w.seq++
	return len(p), nil
}

// chunkReader presents a stream's rows, in seq order, as one io.Reader.
// A gap in seq is reported as truncation straight away rather than left to
// the AEAD, which would also catch it but with a less useful message.
type chunkReader struct {
	ctx     context.Context
	q       Querier
	id      string
	next    int32    // seq expected next
	pending [][]byte // fetched, not yet consumed rows
	cur     []byte   // unread part of the current row
	done    bool     // no rows after next
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.cur) == 0 {
		if len(c.pending) == 0 {
			if c.done {
				return 0, io.EOF
			}
			if err := c.fetch(); err != nil {
				return 0, err
			}
			continue
		}
		c.cur, c.pending[0] = c.pending[0], nil
		c.pending = c.pending[1:]
	}
	n := copy(p, c.cur)
	c.cur = c.cur[n:]
	return n, nil
}

// fetch loads the next batch of rows by keyset (seq >= next), never by
// OFFSET, so every batch costs the same index probe.
func (c *chunkReader) fetch() error {
	rows, err := c.q.Query(c.ctx, `
		SELECT seq, ct FROM data_chunks
		WHERE data_key_id = $1 AND seq >= $2
		ORDER BY seq LIMIT $3`, c.id, c.next, chunkBatch)
	if err != nil {
		return fmt.Errorf("postgres: datakeys: read chunks: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var seq int32
		var ct []byte
		if err := rows.Scan(&seq, &ct); err != nil {
			return fmt.Errorf("postgres: datakeys: read chunks: %w", err)
		}
		if seq != c.next {
			return fmt.Errorf("postgres: datakeys: stream %s: chunk %d missing: %w", c.id, c.next, envelope.ErrTruncated)
		}
		c.pending = append(c.pending, ct)
		c.next++
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("postgres: datakeys: read chunks: %w", err)
	}
	rows.Close()
	c.done = n < chunkBatch
	if n == 0 {
		return c.checkNotShredded()
	}
	return nil
}

// checkNotShredded turns "no more rows" into ErrShredded when the data key
// itself is gone: shredding cascades to the chunks, and a reader caught
// between batches should say the attachment was withdrawn, not truncated.
func (c *chunkReader) checkNotShredded() error {
	exists, err := dataKeyExists(c.ctx, c.q, c.id)
	if err != nil {
		return fmt.Errorf("postgres: datakeys: read chunks: %w", err)
	}
	if !exists {
		return fmt.Errorf("postgres: datakeys: stream %s: %w", c.id, envelope.ErrShredded)
	}
	return nil
}

// streamReadCloser logs decryption failures once and wraps them with the
// package's prefix; Close exists so callers can defer it and so a future
// implementation holding a connection needs no API change; an object's
// reader is closed by it.
type streamReadCloser struct {
	r      io.Reader
	d      *DataKeys
	id     string
	owner  Owner
	logged bool
	closer io.Closer // the object being read, if the stream is one
}

func (s *streamReadCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		if !s.logged {
			s.logged = true
			s.d.logFailure("read stream", s.id, s.owner, err)
		}
		return n, fmt.Errorf("postgres: datakeys: read stream: %w", err)
	}
	return n, err
}

func (s *streamReadCloser) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}
