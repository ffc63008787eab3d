package messaging

import (
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// Fuzz targets for what arrives from outside as text: uploaded file names,
// uploaded bytes, recipient keys from the compose form and ids from URLs.
// Seeds live in testdata/fuzz/<target> plus the f.Add calls; `go test`
// runs them, `make fuzz` fuzzes.

// FuzzCleanFilename: whatever name a browser or a mail program sends, the
// stored name has no directory, no control, format or bidi character, no
// quote, no leading dot, is valid UTF-8, not empty and at most 120 runes;
// simple names are kept as they are; and CheckFile on it either refuses it
// (ErrFileRefused, whatever the letter case) or gives a type that is served
// as itself only when it cannot carry script.
func FuzzCleanFilename(f *testing.F) {
	for _, s := range []string{
		"report.pdf",
		`C:\fakepath\lab results.pdf`,
		"../../etc/passwd",
		"invoice\u202Efdp.exe",
		"bad\x00name\r\n.txt",
		"...hidden",
		"scan.PDF\u200b",
		strings.Repeat("é", 130) + ".pdf",
		strings.Repeat("a", 116) + ".exe." + strings.Repeat("x", 20),
		"\xff\xfe.txt",
	} {
		f.Add(s)
	}
	simple := regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9 ._-]*[A-Za-z0-9_.-]$`)
	f.Fuzz(func(t *testing.T, name string) {
		clean := CleanFilename(name)
		switch {
		case clean == "" || clean == "." || clean == "..":
			t.Fatalf("CleanFilename(%q) = %q", name, clean)
		case !utf8.ValidString(clean):
			t.Fatalf("CleanFilename(%q) = %q: invalid UTF-8", name, clean)
		case utf8.RuneCountInString(clean) > maxNameRunes:
			t.Fatalf("CleanFilename(%q) = %q: %d runes", name, clean, utf8.RuneCountInString(clean))
		case strings.HasPrefix(clean, "."):
			t.Fatalf("CleanFilename(%q) = %q: leading dot", name, clean)
		case filepath.Base(clean) != clean:
			t.Fatalf("CleanFilename(%q) = %q: not a bare file name", name, clean)
		}
		for _, r := range clean {
			if r == '/' || r == '\\' || r == '"' || r == utf8.RuneError || unicode.IsControl(r) ||
				unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Fatalf("CleanFilename(%q) = %q: keeps %U", name, clean, r)
			}
		}
		if len(name) <= maxNameRunes && simple.MatchString(name) && !strings.HasPrefix(name, ".") && clean != name {
			t.Fatalf("CleanFilename(%q) = %q: a plain name was changed", name, clean)
		}

		ctype, err := CheckFile(clean)
		switch {
		case err != nil && (!errors.Is(err, ErrFileRefused) || ctype != ""):
			t.Fatalf("CheckFile(%q) = %q, %v", clean, ctype, err)
		case err == nil && !safeTypes[ctype] && ctype != "application/octet-stream":
			t.Fatalf("CheckFile(%q) = %q: served as itself", clean, ctype)
		}
		for _, variant := range []string{asciiCase(clean, unicode.ToUpper), asciiCase(clean, unicode.ToLower)} {
			if _, verr := CheckFile(variant); (verr == nil) != (err == nil) {
				t.Fatalf("CheckFile(%q) err=%v but CheckFile(%q) err=%v", clean, err, variant, verr)
			}
		}
	})
}

// asciiCase changes the case of ASCII letters only.
func asciiCase(s string, to func(rune) rune) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			return to(r)
		}
		return r
	}, s)
}

// FuzzRefusePrograms: the reader refuses exactly the files that begin with
// a program's magic bytes (ErrFileRefused on the first Read, no byte handed
// out before it) and passes every other file through byte for byte, however
// the bytes are split by the reader underneath and the reads above.
func FuzzRefusePrograms(f *testing.F) {
	f.Add([]byte("%PDF-1.7 lab report"), byte(0), byte(0))
	f.Add([]byte("MZ\x90\x00\x03\x00\x00\x00"), byte(1), byte(3))
	f.Add([]byte("\x7fEL"), byte(2), byte(1))
	f.Add([]byte("\xca\xfe\xba\xbe\x00\x00"), byte(0x81), byte(2))
	f.Add([]byte("#"), byte(0), byte(0))
	f.Add([]byte{}, byte(0x80), byte(5))
	f.Fuzz(func(t *testing.T, data []byte, chunk, buf byte) {
		want := false
		for _, m := range programMagic {
			want = want || bytes.HasPrefix(data, m)
		}
		// The reader underneath returns at most 1 to 8 bytes at a time, and
		// with the high bit of chunk set, io.EOF together with its last bytes.
		var under io.Reader = &chunkReader{data: data, max: int(chunk%8) + 1, eofWithData: chunk&0x80 != 0}
		r := RefusePrograms(under)
		// The first read may be of zero bytes (buf's high bit), the rest of
		// 1 to 16.
		size := int(buf%16) + 1
		first := true
		var got []byte
		for {
			p := make([]byte, size)
			if first && buf&0x80 != 0 {
				p = p[:0]
			}
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if want {
				if first && n == 0 && errors.Is(err, ErrFileRefused) {
					return
				}
				t.Fatalf("program %q: read %d bytes, %v; want ErrFileRefused at once", data, n, err)
			}
			first = false
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%q: read error %v", data, err)
			}
			if len(got) > len(data) {
				t.Fatalf("%q: read %q, more than was sent", data, got)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("%q came out as %q", data, got)
		}
	})
}

type chunkReader struct {
	data        []byte
	max         int
	eofWithData bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.data[:min(len(c.data), c.max)])
	c.data = c.data[n:]
	if c.eofWithData && len(c.data) == 0 {
		return n, io.EOF
	}
	return n, nil
}

// FuzzParseRecipientKey: a key is accepted only as RecipientKey writes it
// (a staff or team kind and a decimal id, one spelling per recipient), and
// every key RecipientKey writes is accepted back.
func FuzzParseRecipientKey(f *testing.F) {
	for _, s := range []string{"staff:42", "team:3", "", "staff:", "admin:1", "team:1:2", "Team:3", "staff:-7", "team:9223372036854775808"} {
		f.Add(s, int64(42))
	}
	f.Add("team:+3", int64(-1))
	f.Fuzz(func(t *testing.T, key string, id int64) {
		kind, n, ok := ParseRecipientKey(key)
		switch {
		case !ok && (kind != "" || n != 0):
			t.Fatalf("ParseRecipientKey(%q) = %q, %d, false: values with a refusal", key, kind, n)
		case ok && kind != RecipientStaff && kind != RecipientTeam:
			t.Fatalf("ParseRecipientKey(%q): kind %q", key, kind)
		case ok && RecipientKey(kind, n) != key:
			t.Fatalf("ParseRecipientKey(%q) = %q, %d, true: not a key RecipientKey makes (%q)", key, kind, n, RecipientKey(kind, n))
		}
		for _, k := range []string{RecipientStaff, RecipientTeam} {
			if kind2, n2, ok2 := ParseRecipientKey(RecipientKey(k, id)); !ok2 || kind2 != k || n2 != id {
				t.Fatalf("RecipientKey(%q, %d) parses as %q, %d, %v", k, id, kind2, n2, ok2)
			}
		}
	})
}

// FuzzValidID: ValidID accepts exactly the canonical 8-4-4-4-12 hex text
// of a UUID, either letter case, and nothing else.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{
		"0b9d2b0c-6f4e-4c55-9d3a-2f1f0c9e7a11",
		"0B9D2B0C-6F4E-4C55-9D3A-2F1F0C9E7A11",
		"0b9d2b0c6f4e4c559d3a2f1f0c9e7a11",
		"{0b9d2b0c-6f4e-4c55-9d3a-2f1f0c9e7a1}",
		"0b9d2b0c-6f4e-4c55-9d3a-2f1f0c9e7a1\u00e9",
		"' OR 1=1 --",
		"",
	} {
		f.Add(s)
	}
	canonical := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	f.Fuzz(func(t *testing.T, id string) {
		if got, want := ValidID(id), canonical.MatchString(id); got != want {
			t.Fatalf("ValidID(%q) = %v, want %v", id, got, want)
		}
	})
}
