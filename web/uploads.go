package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/spool"
)

// The text parts of a message form are held in memory while its files
// spool to disk, so they are bounded while they are read: each field's size
// (a message body of 50,000 characters fits even at four bytes each), how
// many text parts a form may have (its fields, and a part for each file
// input left empty), and which fields (any other is refused at its header,
// before a byte of it is read). Without the bounds a signed-in post of 100
// unused 512 KB fields took 50 MB, and 16 at once most of a gigabyte.
const (
	maxFieldBytes = 256 << 10
	maxTextParts  = 20
)

// errFieldTooLarge is a text field over maxFieldBytes.
var errFieldTooLarge = errors.New("web: form field too large")

// uploadForm is a message form read to its end: the text fields, and each
// chosen file spooled to disk, encrypted (see package spool). Nothing is held
// in memory, and the database is not touched until the whole request has
// arrived, however slowly it came. Close it when done.
//
// As messaging.Uploads it hands the files to the store one at a time.
type uploadForm struct {
	fields map[string]string
	// known are the text fields the form has; textParts counts the
	// parts that were not files.
	known     []string
	textParts int
	// notText has the words beside each field whose value was not text
	// (it is emptied in fields).
	notText accounts.FieldErrors
	files   []spooledUpload
	next    int
}

type spooledUpload struct {
	name string
	file *spool.File
}

var errBadForm = errors.New("web: malformed upload form")

// readUploadForm reads the whole form, refusing early what the store would
// refuse later (too many files, too large, a program) so that a refused
// upload costs no disk space beyond the file being read. fields are the
// text fields of the form; the files come in "attachments". A text field
// that is not text is emptied and named in the form's textErr, for the
// handler to show beside it.
func (s *Server) readUploadForm(r *http.Request, fields ...string) (*uploadForm, error) {
	limits := s.cfg.Uploads
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errBadForm, err) // not multipart, or no boundary
	}
	f := &uploadForm{fields: map[string]string{}, known: fields}
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
	name := p.FormName()
	if name != "attachments" || p.FileName() == "" { // a file input with no file chosen is a text part too
		f.textParts++
		if f.textParts > maxTextParts {
			return fmt.Errorf("%w: more than %d text parts", errBadForm, maxTextParts)
		}
	}
	if name != "attachments" {
		return f.readField(p, name)
	}
	if p.FileName() == "" {
		return nil
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

// readField reads the text field name, holding at most maxFieldBytes of it.
func (f *uploadForm) readField(p *multipart.Part, name string) error {
	if !slices.Contains(f.known, name) {
		return fmt.Errorf("%w: a field the form does not have", errBadForm) // its name stays out of the log: anything may be in it
	}
	b, err := io.ReadAll(io.LimitReader(p, maxFieldBytes+1))
	if err != nil {
		return err
	}
	if len(b) > maxFieldBytes {
		return errFieldTooLarge
	}
	v := string(b)
	if !isText(v) {
		v = ""
		if f.notText == nil {
			f.notText = accounts.FieldErrors{}
		}
		f.notText[name] = notTextMessage
	}
	f.fields[name] = v
	return nil
}

func (f *uploadForm) value(name string) string { return f.fields[name] }

// textErr is nil, or the fields that were not text as FieldErrors: the
// handler shows them as it shows the domain's, without calling the domain.
func (f *uploadForm) textErr() error { return problemsErr(f.notText) }

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
