package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/healthnet/secureportal/internal/messaging"
)

// maxFieldBytes bounds one text field of an upload form (a message body of
// 50,000 characters fits several times over).
const maxFieldBytes = 512 << 10

// uploadForm reads a multipart form as a stream: the text fields first (the
// forms put the file input last), then the files one at a time through Next,
// each handed to the store as a reader. No file is ever held in memory or
// written to a temporary file, unlike r.ParseMultipartForm.
type uploadForm struct {
	mr      *multipart.Reader
	fields  map[string]string
	pending *multipart.Part
	// remaining is how many more file bytes the message may carry.
	remaining int64
}

var errBadForm = errors.New("web: malformed upload form")

func readUploadForm(r *http.Request, maxMessageBytes int64) (*uploadForm, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadForm, err)
	}
	f := &uploadForm{mr: mr, fields: map[string]string{}, remaining: maxMessageBytes}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return f, nil
		}
		if err != nil {
			return nil, uploadErr(err)
		}
		if p.FileName() != "" || p.FormName() == "attachments" {
			f.pending = p
			return f, nil
		}
		b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
		if err != nil {
			return nil, uploadErr(err)
		}
		if len(b) > maxFieldBytes {
			return nil, messaging.ErrTooLarge
		}
		f.fields[p.FormName()] = string(b)
	}
}

func (f *uploadForm) value(name string) string { return f.fields[name] }

// Next returns the next chosen file; an empty file input (no file chosen)
// is skipped.
func (f *uploadForm) Next() (messaging.Upload, error) {
	for {
		p := f.pending
		f.pending = nil
		if p == nil {
			var err error
			if p, err = f.mr.NextPart(); err != nil {
				if errors.Is(err, io.EOF) {
					return messaging.Upload{}, io.EOF
				}
				return messaging.Upload{}, uploadErr(err)
			}
		}
		if p.FormName() != "attachments" || p.FileName() == "" {
			continue
		}
		return messaging.Upload{Name: p.FileName(), ContentType: p.Header.Get("Content-Type"), Body: &uploadReader{r: p, form: f}}, nil
	}
}

// uploadReader counts a file's bytes against the message's total, and turns
// the body limit's error into messaging.ErrTooLarge.
type uploadReader struct {
	r    io.Reader
	form *uploadForm
}

func (u *uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.form.remaining -= int64(n)
	if u.form.remaining < 0 {
		return n, messaging.ErrTooLarge
	}
	if err != nil && !errors.Is(err, io.EOF) {
		err = uploadErr(err)
	}
	return n, err
}

// uploadErr classifies a failure while reading the request body: over the
// size limit, or a broken multipart stream (a client's fault, 400).
func uploadErr(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return messaging.ErrTooLarge
	}
	if strings.Contains(err.Error(), "multipart") || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %v", errBadForm, err)
	}
	return err
}
