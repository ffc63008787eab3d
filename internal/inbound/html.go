package inbound

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlText is the readable text of an HTML-only reply, crudely: the text
// between tags, a line break for each <br> and around blocks, nothing of scripts,
// styles or the head. Bodies are stored and shown as plain text (DESIGN.md
// §6), so no markup may survive; layout may be lost.
func htmlText(src string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(src))
	skip := 0 // depth inside elements whose text is not content
	for {
		switch z.Next() {
		case html.ErrorToken:
			return tidyLines(b.String())
		case html.TextToken:
			if skip == 0 {
				writeText(&b, string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); {
			case a == atom.Script || a == atom.Style || a == atom.Head || a == atom.Title:
				skip++
			case a == atom.Br:
				b.WriteByte('\n')
			case blocks[a]:
				endLine(&b)
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch a := atom.Lookup(name); {
			case a == atom.Script || a == atom.Style || a == atom.Head || a == atom.Title:
				skip = max(skip-1, 0)
			case blocks[a]:
				endLine(&b)
			}
		}
	}
}

// blocks are the elements that start and end a line of text.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Tr: true, atom.Li: true, atom.Blockquote: true, atom.Pre: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Table: true, atom.Ul: true, atom.Ol: true, atom.Hr: true,
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// tidyLines trims each line and keeps at most one empty line in a row.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n"))
}

// writeText adds a run of text with its white space collapsed, as a
// browser shows it, keeping one space where the run meets its neighbours.
func writeText(b *strings.Builder, text string) {
	first, _ := utf8.DecodeRuneInString(text)
	last, _ := utf8.DecodeLastRuneInString(text)
	if unicode.IsSpace(first) {
		space(b)
	}
	if words := strings.Fields(text); len(words) > 0 {
		b.WriteString(strings.Join(words, " "))
		if unicode.IsSpace(last) {
			space(b)
		}
	}
}

// space adds one space unless the text already ends a word.
func space(b *strings.Builder) {
	if s := b.String(); s != "" && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\n") {
		b.WriteByte(' ')
	}
}

// endLine ends the current line unless it is empty: nested and adjacent
// blocks make one line break, not several.
func endLine(b *strings.Builder) {
	if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
		b.WriteByte('\n')
	}
}
