package inbound

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/messaging"
)

// fuzzMaxMessage caps the messages FuzzReadReply tries: the parser's own
// limits are the text cap and the per-file cap, and a bigger message only
// makes each run slower.
const fuzzMaxMessage = 64 << 10

// FuzzReadReply feeds arbitrary bytes to readReply, the MIME parser an
// emailed reply's DATA goes through (after DKIM, before the store). It must
// never panic; a failure is one of the refusals the SMTP session answers
// (malformed message, too large, too many files, file type refused); and an
// accepted message is bounded by what was sent: a body of valid UTF-8 at
// most three bytes per byte received (charset decoding and U+FFFD for bad
// bytes are the only growth), text within maxTextBytes, at most MaxFiles
// attachments, each within MaxFileBytes and all together no more than was
// sent, each name one CheckFile accepts, and each spooled file reading back
// whole.
//
// Seeds live in testdata/fuzz/FuzzReadReply plus the f.Add calls.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nNotes follow.\r\n\r\nOn Monday, Rosa Rep wrote:\r\n> Please send the chart notes.\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nSe=F1ora G=F3mez is seen on Friday.\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPlain words.\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>HTML words.</p>\r\n--b--\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>Re</title><style>p{color:red}</style></head><body><p>Chart notes are <b>attached</b>&nbsp;now.</p><div>Thanks,<br>Dr&nbsp;Lee</div><script>alert(1)</script></body></html>\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nScan attached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgc2Nhbg==\r\n--b--\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nScan attached.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%% not base64 %%%%\r\n--b--\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nTwo files.\r\n--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"=?windows-1252?Q?R=E9sum=E9.pdf?=\"\r\n\r\n%PDF-1.4\r\n--b\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename*=utf-8''r%C3%A9sultats.csv\r\n\r\na,b\r\n--b--\r\n",
		"Subject: Re\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSetup\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=setup.exe\r\n\r\nMZ\r\n--b--\r\n",
		"Subject: Re\r\nContent-Type: text/plain; charset=x-unknown-charset\r\n\r\n\xff\xfe bytes\r\n",
		"Subject: Re\r\nContent-Type: text/plain; charset=utf-16le\r\n\r\nH\x00i\x00",
		"no header at all",
		"",
	} {
		f.Add([]byte(s))
	}
	srv := New(Settings{MaxFiles: 3, MaxFileBytes: 4 << 10, SpoolDir: f.TempDir()}, nil, nil, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > fuzzMaxMessage {
			t.Skip("over the fuzzing size cap")
		}
		m, err := srv.readReply(bytes.NewReader(data))
		if err != nil {
			if m != nil {
				m.Close()
				t.Fatalf("readReply failed (%v) and returned a reply", err)
			}
			if !errors.Is(err, errNotMIME) && !errors.Is(err, messaging.ErrTooLarge) &&
				!errors.Is(err, messaging.ErrTooManyFiles) && !errors.Is(err, messaging.ErrFileRefused) {
				t.Fatalf("readReply: unexpected error %v", err)
			}
			return
		}
		defer m.Close()
		switch {
		case !utf8.ValidString(m.body):
			t.Fatalf("body is not UTF-8: %q", m.body)
		case len(m.body) > 3*len(data):
			t.Fatalf("body of %d bytes from a message of %d", len(m.body), len(data))
		case m.texts.size > maxTextBytes:
			t.Fatalf("%d bytes of text kept, limit %d", m.texts.size, maxTextBytes)
		case len(m.files) > srv.settings.MaxFiles:
			t.Fatalf("%d attachments kept, limit %d", len(m.files), srv.settings.MaxFiles)
		}
		var total int64
		for _, sf := range m.files {
			if _, err := messaging.CheckFile(messaging.CleanFilename(sf.name)); err != nil {
				t.Fatalf("attachment %q kept: %v", sf.name, err)
			}
			if sf.file.Size() > srv.settings.MaxFileBytes {
				t.Fatalf("attachment %q of %d bytes kept, limit %d", sf.name, sf.file.Size(), srv.settings.MaxFileBytes)
			}
			total += sf.file.Size()
		}
		if total > int64(len(data)) {
			t.Fatalf("%d bytes of attachments from a message of %d", total, len(data))
		}
		for i := range m.files {
			up, err := m.Next()
			if err != nil {
				t.Fatalf("attachment %d: %v", i, err)
			}
			got, err := io.ReadAll(up.Body)
			if err != nil || int64(len(got)) != m.files[i].file.Size() || up.Name != m.files[i].name {
				t.Fatalf("attachment %d (%q) reads back %d bytes, %v; spooled %d", i, up.Name, len(got), err, m.files[i].file.Size())
			}
		}
		if _, err := m.Next(); err != io.EOF {
			t.Fatalf("after the last attachment: %v, want io.EOF", err)
		}
	})
}
