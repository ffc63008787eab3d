package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/messaging"
)

// files hands the store a message's files as the web's upload form does.
type files []messaging.Upload

func (f *files) Next() (messaging.Upload, error) {
	if len(*f) == 0 {
		return messaging.Upload{}, io.EOF
	}
	u := (*f)[0]
	*f = (*f)[1:]
	return u, nil
}

func uploadsOf(names ...string) *files {
	f := files{}
	for _, n := range names {
		f = append(f, messaging.Upload{Name: n, Body: strings.NewReader("data")})
	}
	return &f
}

// The web refuses these early, while reading the form; the store refuses
// them again, so no other caller (a job, a future API) can get round them.
func TestStoreRefusesProgramsTooManyAndTooLargeFiles(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_MAX_FILES": "2", "PORTAL_MAX_FILE_BYTES": "10"})
	staff, _ := s.staffIn("rep@plan.example", "Rep", "LA")
	p := s.signedIn("rep@plan.example").postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"B"}})
	thread := threadID(t, p.Location)
	rep := messaging.Viewer{UserID: staff.ID, Staff: true}
	ctx := context.Background()
	big := &files{{Name: "scan.pdf", Body: bytes.NewReader(make([]byte, 11))}}
	for name, c := range map[string]struct {
		files messaging.Uploads
		want  error
	}{
		"a program":      {uploadsOf("setup.exe"), messaging.ErrFileRefused},
		"too many files": {uploadsOf("a.pdf", "b.pdf", "c.pdf"), messaging.ErrTooManyFiles},
		"too large":      {big, messaging.ErrTooLarge},
	} {
		if err := s.app.Messages.Reply(ctx, rep, thread, "See attached.", c.files); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
	var n int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM messages WHERE thread_id = $1`, thread).Scan(&n)
	must(t, "nothing stored", n == 1)
}
