package pages

import "strings"

// SplitQuoted separates a reply's own words from the history its mail
// program quoted below them: the first run of lines that starts with an
// attribution ("On Tue, Dec 1, 2026, Lena wrote:") or with "> " and lasts,
// blank lines aside, to the end of the text. Replies by email carry the
// whole earlier message; the page folds it so the thread stays readable.
// Text with no such tail comes back whole with quoted empty.
func SplitQuoted(body string) (own, quoted string) {
	lines := strings.Split(body, "\n")
	start := len(lines)
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "" || strings.HasPrefix(l, ">"):
			if l != "" {
				start = i
			}
			continue
		case isAttribution(l) && start < len(lines):
			start = i
		}
		break
	}
	if start == len(lines) || strings.TrimSpace(strings.Join(lines[:start], "\n")) == "" {
		return body, ""
	}
	return strings.TrimRight(strings.Join(lines[:start], "\n"), "\n"), strings.Join(lines[start:], "\n")
}

// isAttribution matches the line mail programs put above quoted text.
func isAttribution(l string) bool {
	return strings.HasSuffix(l, "wrote:") || strings.HasPrefix(l, "-----Original Message-----")
}
