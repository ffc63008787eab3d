package messaging

import (
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCleanFilename(t *testing.T) {
	cases := map[string]string{
		"report.pdf":                  "report.pdf",
		`C:\fakepath\lab results.pdf`: "lab results.pdf",
		"../../etc/passwd":            "passwd",
		"invoice\u202Efdp.exe":        "invoicefdp.exe",
		"bad\x00name\r\n.txt":         "badname.txt",
		"...hidden":                   "hidden",
		"":                            "attachment",
		"/":                           "attachment",
		`quote"d.txt`:                 "quoted.txt",
	}
	for in, want := range cases {
		if got := CleanFilename(in); got != want {
			t.Errorf("CleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
	long := CleanFilename(strings.Repeat("é", 300) + ".pdf")
	if utf8.RuneCountInString(long) != maxNameRunes || !strings.HasSuffix(long, ".pdf") {
		t.Errorf("long name cut to %d runes: %q", utf8.RuneCountInString(long), long[len(long)-10:])
	}
}

func TestCheckFileRefusesExecutablesAndNeutralisesHTML(t *testing.T) {
	for _, n := range []string{"setup.exe", "run.BAT", "macro.js", "x.ps1", "y.hta"} {
		if _, err := CheckFile(n); !errors.Is(err, ErrFileRefused) {
			t.Errorf("%s accepted", n)
		}
	}
	for n, want := range map[string]string{
		"scan.pdf": "application/pdf", "photo.JPG": "image/jpeg", "page.html": "application/octet-stream",
		"logo.svg": "application/octet-stream", "notes.txt": "text/plain", "noext": "application/octet-stream",
	} {
		if got, err := CheckFile(n); err != nil || got != want {
			t.Errorf("CheckFile(%s) = %q, %v; want %q", n, got, err, want)
		}
	}
}

// A program renamed to an allowed name is refused by its first bytes; other
// files pass through byte for byte, short ones included.
func TestProgramsAreRefusedByTheirContent(t *testing.T) {
	for name, content := range map[string]string{
		"windows": "MZ\x90\x00\x03\x00\x00\x00", "linux": "\x7fELF\x02\x01", "mach-o": "\xcf\xfa\xed\xfe\x07",
		"script": "#!/bin/sh\nrm -rf ~\n",
	} {
		if _, err := io.ReadAll(RefusePrograms(strings.NewReader(content))); !errors.Is(err, ErrFileRefused) {
			t.Errorf("%s: read error %v, want ErrFileRefused", name, err)
		}
	}
	for _, content := range []string{"%PDF-1.7 lab report", "a", "", "PK\x03\x04zip", "plain notes, not a program"} {
		got, err := io.ReadAll(RefusePrograms(strings.NewReader(content)))
		if err != nil || string(got) != content {
			t.Errorf("%q came out as %q, %v", content, got, err)
		}
	}
}
