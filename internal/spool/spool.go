// Package spool holds an uploaded file on local disk while its request is
// still arriving, so that storing it for good (in one short database
// transaction) does not wait on the sender's network.
//
// A clinic on a slow line may take minutes to send a scan. Streaming it
// straight into the database would hold a pooled connection, and the
// thread's row lock, for all that time: a handful of slow uploads would
// stop every page of the portal. Spooling first makes the transaction as
// fast as the local disk.
//
// The bytes on disk are ciphertext: each file is sealed with the envelope
// stream format under a fresh key that exists only in this process's memory,
// and the file is unlinked as soon as it is created, so nothing readable
// remains on disk after the request, or after a crash.
package spool

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/healthnet/secureportal/internal/envelope"
)

// ErrTooLarge means the file had more bytes than the limit given to Write.
var ErrTooLarge = errors.New("spool: file too large")

// File is one spooled upload. Close it when done: that frees the disk space.
type File struct {
	f       *os.File
	dek     envelope.DEK
	binding envelope.Binding
	size    int64
}

// Write copies r into a new spooled file in dir (the system's temporary
// directory when dir is ""). More than limit bytes is ErrTooLarge; reading
// stops one byte past the limit, so an oversize file is never stored whole.
func Write(dir string, r io.Reader, limit int64) (*File, error) {
	f, err := os.CreateTemp(dir, "portal-upload-*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// Unlinked at once: the open descriptor keeps the data until Close, and
	// no path to it exists for anyone else, or after a crash.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool: %w", err)
	}
	sf, err := write(f, r, limit)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

func write(f *os.File, r io.Reader, limit int64) (*File, error) {
	dek, err := envelope.NewDEK()
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	// The binding is unique to this file: its ciphertext opens nowhere else.
	id := rand.Text()
	sf := &File{f: f, dek: dek, binding: envelope.Binding{Purpose: "upload-spool", Table: "spool", Column: "file", RowID: id}}
	sf.size, err = envelope.SealStream(f, dek, sf.binding, r, limit)
	if errors.Is(err, envelope.ErrTooLarge) {
		return nil, ErrTooLarge
	}
	if err != nil {
		return nil, err // the reader's own error (a broken upload, a size limit), for the caller to classify
	}
	return sf, nil
}

// Size is the file's plaintext length.
func (s *File) Size() int64 { return s.size }

// Open returns a reader of the file's plaintext from the start. Each Open
// rewinds; use one reader at a time.
func (s *File) Open() (io.Reader, error) {
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	r, err := envelope.NewStreamReader(s.f, s.dek, s.binding)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return r, nil
}

// Close releases the file and its disk space.
func (s *File) Close() error { return s.f.Close() }
