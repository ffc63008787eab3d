package web_test

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// fieldsReader streams a message form whose text fields are generated as
// they are sent: the test itself holds none of them.
func fieldsReader(fields url.Values, extra func(mw *multipart.Writer) error) (io.Reader, string) {
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		for k, vs := range fields {
			for _, v := range vs {
				mw.WriteField(k, v)
			}
		}
		err := extra(mw)
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, mw.FormDataContentType()
}

// repeatedFields writes n fields named by name(i), each size bytes, from one
// small buffer.
func repeatedFields(n, size int, name func(i int) string) func(mw *multipart.Writer) error {
	chunk := bytes.Repeat([]byte("x"), 32<<10)
	return func(mw *multipart.Writer) error {
		for i := range n {
			w, err := mw.CreateFormField(name(i))
			if err != nil {
				return err
			}
			for left := size; left > 0; left -= len(chunk) {
				if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

// The text parts of a message form are held in memory while it is read, so
// they are bounded as they are read: a signed-in post of 100 unused 512 KB
// fields (accepted before, 50 MB each time) is refused at the first of them,
// quickly and without the server holding it, and so are a field larger than
// any message and more text parts than the form has.
func TestMessageFormTextFieldsAreBoundedWhileRead(t *testing.T) {
	// Room for the whole post under the upload limit: only the field
	// bounds may refuse it.
	s := newSite(t, map[string]string{"PORTAL_MAX_MESSAGE_BYTES": fmt.Sprint(100 << 20), "PORTAL_MAX_FILE_BYTES": fmt.Sprint(100 << 20)})
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")
	ok := url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"B"}}
	cases := []struct {
		name   string
		fields func(mw *multipart.Writer) error
		status int
	}{
		{"100 unused fields of 512 KB", repeatedFields(100, 512<<10, func(i int) string { return fmt.Sprintf("note%d", i) }), http.StatusBadRequest},
		{"a 512 KB subject, 100 times", repeatedFields(100, 512<<10, func(int) string { return "subject" }), http.StatusRequestEntityTooLarge},
		{"a small body, 50 times", repeatedFields(50, 10, func(int) string { return "body" }), http.StatusBadRequest},
	}
	for _, tc := range cases {
		heap := watchHeap()
		start := time.Now()
		body, contentType := fieldsReader(ok, tc.fields)
		p := staff.do(http.MethodPost, "/staff/compose", nil, http.Header{"Content-Type": {contentType}}, body)
		took := time.Since(start)
		objects, live := heap.done()
		t.Logf("%s: %d after %v; peak heap growth %.1f MiB live, %.1f MiB with garbage", tc.name, p.Status, took.Round(time.Millisecond), live, objects)
		if p.Status != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, p.Status, tc.status)
		}
		contains(t, tc.name, p.Body, `data-testid="error-page"`)
		if took > 5*time.Second {
			t.Errorf("%s: answered after %v", tc.name, took)
		}
		if live > 8 || objects > 32 {
			t.Errorf("%s: heap grew %.1f MiB live, %.1f MiB with garbage: the fields were held", tc.name, live, objects)
		}
	}
	p := staff.get("/staff")
	must(t, "nothing was sent", p.Status == http.StatusOK && !bytes.Contains([]byte(p.Body), []byte(`data-testid="thread-row"`)))

	// A body of 50,000 characters of four bytes each is within the bound.
	long := string(bytes.Repeat([]byte("🩺"), 50000))
	p = staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Long"}, "body": {long}})
	must(t, fmt.Sprintf("the longest body a message may have is read: %d", p.Status), p.Status == http.StatusSeeOther)
}
