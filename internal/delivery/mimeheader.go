package delivery

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
)

// ErrHeaderInjection is returned when a header value holds a line break
// (or another control character) that would start a new header or end the
// header block: "Subject: hi\r\nBcc: attacker@example" must never happen.
var ErrHeaderInjection = errors.New("delivery: line break or control character in a header value")

// checkHeaderText refuses CR, LF and other control characters (tab aside).
func checkHeaderText(field, v string) error {
	for _, r := range v {
		if r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s", ErrHeaderInjection, field)
		}
	}
	return nil
}

// formatAddress renders a mailbox, encoding a non-ASCII display name as an
// RFC 2047 word (net/mail does) after checking both parts.
func formatAddress(field string, a mail.Address) (string, error) {
	if err := checkHeaderText(field, a.Name+a.Address); err != nil {
		return "", err
	}
	parsed, err := mail.ParseAddress("<" + a.Address + ">")
	if err != nil || parsed.Address != a.Address {
		return "", fmt.Errorf("delivery: %s address %q is not valid", field, a.Address)
	}
	return a.String(), nil
}

// encodeText encodes unstructured text (Subject) as RFC 2047 Q-encoded
// words when it is not plain ASCII.
func encodeText(v string) string { return mime.QEncoding.Encode("utf-8", v) }

// headerWriter writes header fields, folding long ones (RFC 5322 §2.2.3)
// and remembering the first write error.
type headerWriter struct {
	w   io.Writer
	err error
}

func (h *headerWriter) field(name, value string) {
	if h.err != nil {
		return
	}
	_, h.err = io.WriteString(h.w, fold(name+": "+value)+"\r\n")
}

// fold breaks a header line at spaces so lines stay near 78 characters
// (RFC 5322 §2.1.1). Encoded words are separated by spaces, so long
// encoded subjects fold too; a space-free run longer than that is left
// whole, which the 998-character hard limit still allows.
func fold(line string) string {
	const limit = 76
	if len(line) <= limit {
		return line
	}
	var b strings.Builder
	lineLen := 0
	for i, word := range strings.Split(line, " ") {
		if i > 0 {
			if lineLen+1+len(word) > limit {
				b.WriteString("\r\n")
				lineLen = 0
			}
			b.WriteByte(' ')
			lineLen++
		}
		b.WriteString(word)
		lineLen += len(word)
	}
	return b.String()
}
