package mailcatcher

import (
	"slices"
	"strings"
	"testing"
)

func crlf(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

func TestParsesNestedMultipartWithBothEncodings(t *testing.T) {
	raw := crlf(`From: "Portal" <noreply@healthnet.example>
To: alice@example.com
Subject: =?utf-8?q?Lab_results_=E2=9C=93?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 visit: https://portal.healthnet.example/a?x=3D1&y=3D2.=
 See you.
--inner
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

PHAgY2xhc3M9J3gnPjxhIGhyZWY9J2h0dHBzOi8vcG9ydGFsLmhlYWx0aG5ldC5leGFtcGxlL2E/
eD0xJmFtcDt5PTInPm9wZW48L2E+PC9wPg==
--inner--
--outer
Content-Type: application/pdf; name="=?utf-8?q?r=C3=A9sultat.pdf?="
Content-Disposition: attachment
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
`)
	m, err := ParseMessage(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.From != "noreply@healthnet.example" {
		t.Errorf("From = %q", m.From)
	}
	if m.Subject != "Lab results ✓" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if want := "Café visit: https://portal.healthnet.example/a?x=1&y=2. See you."; m.Text != want {
		t.Errorf("Text = %q, want %q", m.Text, want)
	}
	if want := "<p class='x'><a href='https://portal.healthnet.example/a?x=1&amp;y=2'>open</a></p>"; m.HTML != want {
		t.Errorf("HTML = %q, want %q", m.HTML, want)
	}
	if links := m.Links(); !slices.Equal(links, []string{"https://portal.healthnet.example/a?x=1&y=2"}) {
		t.Errorf("Links = %q", links)
	}
	if len(m.Attachments) != 1 {
		t.Fatalf("attachments = %d", len(m.Attachments))
	}
	a := m.Attachments[0]
	if a.Filename != "résultat.pdf" || a.ContentType != "application/pdf" || string(a.Data) != "%PDF-1.4\n" {
		t.Errorf("attachment = %q %q %q", a.Filename, a.ContentType, a.Data)
	}
}

func TestParseRejectsMalformedMIME(t *testing.T) {
	for name, raw := range map[string]string{
		"malformed header":   "this is not a header\n\nbody\n",
		"multipart no bound": "Content-Type: multipart/mixed\n\nbody\n",
		"bad content type":   "Content-Type: text/plain; ;;=\n\nbody\n",
	} {
		if _, err := ParseMessage(crlf(raw)); err == nil {
			t.Errorf("%s: parsed without error", name)
		} else if !strings.HasPrefix(err.Error(), "mailcatcher: ") {
			t.Errorf("%s: error %q lacks package prefix", name, err)
		}
	}
}

func TestLinksSkipNonHTTPAndTrimPunctuation(t *testing.T) {
	m := Message{
		Text: "Go to https://a.example/x. Or (https://b.example/y) or https://w.example/wiki/Foo_(bar)\n" +
			"mailto:help@example.com javascript:alert(1) https://a.example/x",
		HTML: `<a href="javascript:alert(1)">x</a><a HREF=https://c.example/z>z</a><a href="mailto:x@example.com">m</a>`,
	}
	want := []string{"https://a.example/x", "https://b.example/y", "https://w.example/wiki/Foo_(bar)", "https://c.example/z"}
	if got := m.Links(); !slices.Equal(got, want) {
		t.Errorf("Links = %q, want %q", got, want)
	}
}
