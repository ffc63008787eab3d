package pages

import "testing"

func TestSplitQuotedFoldsOnlyATrailingQuote(t *testing.T) {
	cases := []struct{ name, body, own, quoted string }{
		{"no quote", "Thanks, received.", "Thanks, received.", ""},
		{"attribution and quote", "Yes, Tuesday works.\n\nOn Tue, Dec 1, 2026, Lena Ortiz wrote:\n> Can we call Tuesday?\n> Lena",
			"Yes, Tuesday works.", "On Tue, Dec 1, 2026, Lena Ortiz wrote:\n> Can we call Tuesday?\n> Lena"},
		{"quote without attribution", "See below.\n> earlier\n>\n> text\n", "See below.", "> earlier\n>\n> text\n"},
		{"quote in the middle stays", "> your question\nMy answer.", "> your question\nMy answer.", ""},
		{"only a quote stays whole", "> forwarded text", "> forwarded text", ""},
	}
	for _, c := range cases {
		own, quoted := SplitQuoted(c.body)
		if own != c.own || quoted != c.quoted {
			t.Errorf("%s: SplitQuoted = %q, %q; want %q, %q", c.name, own, quoted, c.own, c.quoted)
		}
	}
}
