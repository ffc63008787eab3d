package pages

import (
	"strings"
	"testing"
)

// Fuzz targets for the plain-text body renderer: message bodies are any text
// a provider's mail program or a browser sends. Seeds live in
// testdata/fuzz/<target> plus the f.Add calls.

// FuzzSplitQuoted: the page shows own, then quoted folded, so nothing may be
// lost or invented: own + one or more newlines + quoted is the body exactly
// (the newlines between them are the only thing dropped); a split happens
// only with words of the writer's own above it, and the folded part is a
// quote (an attribution or ">" line first, then only ">" or blank lines).
func FuzzSplitQuoted(f *testing.F) {
	for _, s := range []string{
		"Thanks, received.",
		"Yes, Tuesday works.\n\nOn Tue, Dec 1, 2026, Lena Ortiz wrote:\n> Can we call Tuesday?\n> Lena",
		"See below.\n> earlier\n>\n> text\n",
		"> your question\nMy answer.",
		"Notes follow.\r\n\r\nOn Monday, Rosa Rep wrote:\r\n> Please send the chart notes.\r\n",
		"Reply\n-----Original Message-----\n> old",
		"",
		"\n\n> x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		own, quoted := SplitQuoted(body)
		if quoted == "" {
			if own != body {
				t.Fatalf("SplitQuoted(%q) = %q, \"\": the body changed", body, own)
			}
			return
		}
		gap, ok := strings.CutPrefix(body, own)
		if ok {
			gap, ok = strings.CutSuffix(gap, quoted)
		}
		if !ok || gap == "" || strings.Trim(gap, "\n") != "" {
			t.Fatalf("SplitQuoted(%q) = %q, %q: parts do not reassemble to the body", body, own, quoted)
		}
		if strings.TrimSpace(own) == "" {
			t.Fatalf("SplitQuoted(%q) = %q, %q: nothing of the writer's own left", body, own, quoted)
		}
		lines := strings.Split(quoted, "\n")
		if first := strings.TrimSpace(lines[0]); !strings.HasPrefix(first, ">") && !isAttribution(first) {
			t.Fatalf("SplitQuoted(%q): folded part starts with %q, neither a quote nor an attribution", body, lines[0])
		}
		for _, l := range lines[1:] {
			if l := strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, ">") {
				t.Fatalf("SplitQuoted(%q): folded part holds the unquoted line %q", body, l)
			}
		}
	})
}

// FuzzLinkify: the parts, concatenated, are the text exactly; text runs are
// never empty nor adjacent; every link is its own text, starts with http://
// or https:// (never javascript:, data: or anything else), and holds no
// white space, quote, angle bracket or parenthesis and no trailing
// punctuation.
func FuzzLinkify(f *testing.F) {
	for _, s := range []string{
		"See https://portal.example/threads/1 for details.",
		"javascript:alert(1) and http://a.example/x?y=1&z=2.",
		"(https://clinic.example/path) <http://x.example> \"https://y.example\"",
		"data:text/html;base64,PHNjcmlwdD4= https://",
		"HTTP://upper.example http://ok.example/ü\u00a0after",
		"",
		"http://a http://b\nhttps://c.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		parts := Linkify(s)
		var whole strings.Builder
		for i, p := range parts {
			whole.WriteString(p.Text)
			if p.Text == "" {
				t.Fatalf("Linkify(%q): empty part %d", s, i)
			}
			if p.URL == "" {
				if i > 0 && parts[i-1].URL == "" {
					t.Fatalf("Linkify(%q): text parts %d and %d not joined", s, i-1, i)
				}
				continue
			}
			switch {
			case p.URL != p.Text:
				t.Fatalf("Linkify(%q): link %q shown as %q", s, p.URL, p.Text)
			case !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://"):
				t.Fatalf("Linkify(%q): link %q is not http(s)", s, p.URL)
			case p.URL == "http://" || p.URL == "https://":
				t.Fatalf("Linkify(%q): link %q has no host", s, p.URL)
			case strings.ContainsAny(p.URL, " \t\n\r\f<>\"'()"):
				t.Fatalf("Linkify(%q): link %q holds a delimiter", s, p.URL)
			case strings.ContainsAny(p.URL[len(p.URL)-1:], ".,;:!?"):
				t.Fatalf("Linkify(%q): link %q takes the sentence's punctuation", s, p.URL)
			}
		}
		if whole.String() != s {
			t.Fatalf("Linkify(%q) reassembles to %q", s, whole.String())
		}
	})
}
