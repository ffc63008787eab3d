package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/messaging"
)

// A message form is judged by the type of what went wrong, never by the
// words of an error: over the size limit is "too large" (413), a stream that
// is not a whole multipart form, or not the form the page has (a field it
// does not have, more text parts than it has), is a broken form (400), a
// text field over its bound is refused as it is read, and anything else
// keeps its own identity.
func TestUploadFailuresAreClassifiedByType(t *testing.T) {
	s := &Server{cfg: &config.Config{Uploads: config.Uploads{MaxFileBytes: 1 << 20, MaxFiles: 2, MaxMessageBytes: 2 << 20, SpoolDir: t.TempDir()}}}
	field := func(name, value string) string {
		return "--XYZ\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n"
	}
	head := field("body", "Hello")
	cases := []struct {
		name  string
		body  string
		limit int64 // of the request body; 0 for none
		want  error // nil: the form is read
	}{
		{"a whole form", head + "--XYZ--\r\n", 0, nil},
		{"stops short of the closing boundary", head + "--XYZ", 0, errBadForm},
		{"cut off inside a part", head[:len(head)-4], 0, errBadForm},
		{"over the route's body limit", head + "--XYZ--\r\n", int64(len(head)) - 4, messaging.ErrTooLarge},
		{"a field the form does not have", head + field("note", "x") + "--XYZ--\r\n", 0, errBadForm},
		{"more text parts than a form has", strings.Repeat(head, maxTextParts+1) + "--XYZ--\r\n", 0, errBadForm},
		{"a text field over its bound", field("body", strings.Repeat("x", maxFieldBytes+1)) + "--XYZ--\r\n", 0, errFieldTooLarge},
		{"a program", head + "--XYZ\r\nContent-Disposition: form-data; name=\"attachments\"; filename=\"setup.exe\"\r\n\r\nMZ\r\n--XYZ--\r\n", 0, messaging.ErrFileRefused},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/staff/compose", strings.NewReader(tc.body))
			r.Header.Set("Content-Type", "multipart/form-data; boundary=XYZ")
			if tc.limit > 0 {
				r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, tc.limit)
			}
			f, err := s.readUploadForm(r, "body")
			if tc.want == nil {
				if err != nil || f.value("body") != "Hello" {
					t.Fatalf("got %v, body %q", err, f.value("body"))
				}
				f.Close()
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}

	// What mime/multipart itself refuses as too large is a part's headers
	// (no browser sends megabytes of them): a broken form, not a large file.
	if err := streamErr(multipart.ErrMessageTooLarge); !errors.Is(err, errBadForm) {
		t.Errorf("multipart.ErrMessageTooLarge: %v, want a broken form", err)
	}
	if err := partErr(fmt.Errorf("spool: %w", io.ErrShortWrite)); errors.Is(err, errBadForm) || errors.Is(err, messaging.ErrTooLarge) {
		t.Errorf("a failure of our own (%v) must stay a server error", err)
	}
}
