package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/spool"
)

// maxFieldBytes bounds one text field of an upload form (a message body of
// 50,000 characters fits several times over).
const maxFieldBytes = 512 << 10

// uploadForm is a message form read to its end: the text fields, and each
// chosen file spooled to disk, encrypted (see package spool). Nothing is held
// in memory, and the database is not touched until the whole request has
// arrived, however slowly it came. Close it when done.
//
// As messaging.Uploads it hands the files to the store one at a time.
type uploadForm struct {
	fields map[string]string
	files  []spooledUpload
	next   int
}

type spooledUpload struct {
	name string
	file *spool.File
}

var errBadForm = errors.New("web: malformed upload form")

// readUploadForm reads the whole form, refusing early what the store would
// refuse later (too many files, too large, a program) so that a refused
// upload costs no disk space beyond the file being read.
func (s *Server) readUploadForm(r *http.Request) (*uploadForm, error) {
	limits := s.cfg.Uploads
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadForm, err) // not multipart, or no boundary
	}
	f := &uploadForm{fields: map[string]string{}}
	remaining := limits.MaxMessageBytes
	for {
		p, err := mr.NextPart()
		if err == io.EOF { // io.EOF itself: no more parts (a stream that stops short of the closing boundary wraps it)
			return f, nil
		}
		if err != nil {
			f.Close()
			return nil, streamErr(err)
		}
		if err := f.readPart(p, &remaining, limits.MaxFiles, limits.MaxFileBytes, limits.SpoolDir); err != nil {
			f.Close()
			return nil, partErr(err)
		}
	}
}

func (f *uploadForm) readPart(p *multipart.Part, remaining *int64, maxFiles int, maxFileBytes int64, dir string) error {
	if p.FormName() != "attachments" {
		b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil {
			return err
		}
		if len(b) > maxFieldBytes {
			return messaging.ErrTooLarge
		}
		f.fields[p.FormName()] = string(b)
		return nil
	}
	if p.FileName() == "" {
		return nil // a file input with no file chosen
	}
	if len(f.files) == maxFiles {
		return messaging.ErrTooManyFiles
	}
	if _, err := messaging.CheckFile(messaging.CleanFilename(p.FileName())); err != nil {
		return err
	}
	file, err := spool.Write(dir, &countingReader{r: p, remaining: remaining}, maxFileBytes)
	if errors.Is(err, spool.ErrTooLarge) {
		return messaging.ErrTooLarge
	}
	if err != nil {
		return err
	}
	f.files = append(f.files, spooledUpload{name: p.FileName(), file: file})
	return nil
}

func (f *uploadForm) value(name string) string { return f.fields[name] }

// Next returns the next file, reading it back from the spool.
func (f *uploadForm) Next() (messaging.Upload, error) {
	if f.next == len(f.files) {
		return messaging.Upload{}, io.EOF
	}
	u := f.files[f.next]
	f.next++
	body, err := u.file.Open()
	if err != nil {
		return messaging.Upload{}, err
	}
	return messaging.Upload{Name: u.name, Body: body}, nil
}

// Close frees the spooled files.
func (f *uploadForm) Close() {
	for _, u := range f.files {
		u.file.Close()
	}
	f.files = nil
}

// countingReader counts a file's bytes against what the message may still
// carry in all.
type countingReader struct {
	r         io.Reader
	remaining *int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	*c.remaining -= int64(n)
	if *c.remaining < 0 {
		return n, messaging.ErrTooLarge
	}
	return n, err
}

// streamErr classifies a failure to find the next part: the body over the
// route's limit (413), or else a stream that is not the multipart form it
// claims to be (a client's fault, 400): a body that ends without the closing
// boundary, a malformed boundary or header, or part headers beyond what
// mime/multipart reads (multipart.ErrMessageTooLarge).
func streamErr(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return messaging.ErrTooLarge
	}
	return fmt.Errorf("%w: %w", errBadForm, err)
}

// partErr classifies a failure while reading one part: the body over the
// route's limit (413), a body cut off inside the part (400), or anything
// else as it is (a refused file, a full spool disk).
func partErr(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return messaging.ErrTooLarge
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", errBadForm, err)
	}
	return err
}
