package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
)

// WriteMessage writes m as MIME (RFC 2045-2049): a text part (with an HTML
// alternative), then the attachments in base64. Every header is checked
// before the first byte is written, so a refused message writes nothing.
// Bodies are quoted-printable and attachments base64, so the output is
// 7-bit clean and needs no 8BITMIME from the receiving server.
func WriteMessage(w io.Writer, m Outgoing) error {
	head, attachments, err := prepareMessage(m)
	if err != nil {
		return err
	}
	text := textPart(m)
	if len(attachments) == 0 {
		return writePart(w, append(head, text.header...), text.write)
	}
	boundary := newBoundary()
	head = append(head, [2]string{"Content-Type", mime.FormatMediaType("multipart/mixed", map[string]string{"boundary": boundary})})
	return writePart(w, head, func(w io.Writer) error {
		mixed := multipart.NewWriter(w)
		if err := mixed.SetBoundary(boundary); err != nil {
			return err
		}
		if err := createPart(mixed, text); err != nil {
			return err
		}
		for i, h := range attachments {
			if err := createPart(mixed, attachmentPart(h, m.Attachments[i])); err != nil {
				return err
			}
		}
		return mixed.Close()
	})
}

// part is a MIME entity: its header fields in order and a body writer.
type part struct {
	header [][2]string
	write  func(io.Writer) error
}

func writePart(w io.Writer, header [][2]string, body func(io.Writer) error) error {
	hw := &headerWriter{w: w}
	for _, f := range header {
		hw.field(f[0], f[1])
	}
	if hw.err == nil {
		_, hw.err = io.WriteString(w, "\r\n")
	}
	if hw.err != nil {
		return fmt.Errorf("delivery: write message: %w", hw.err)
	}
	if err := body(w); err != nil {
		return fmt.Errorf("delivery: write message: %w", err)
	}
	return nil
}

func createPart(mw *multipart.Writer, p part) error {
	h := textproto.MIMEHeader{}
	for _, f := range p.header {
		// Folded like the message header; multipart writes it verbatim.
		h.Set(f[0], strings.TrimPrefix(fold(f[0]+": "+f[1]), f[0]+": "))
	}
	pw, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	return p.write(pw)
}

// textPart is the message text: plain, or plain and HTML as alternatives
// (RFC 2046 §5.1.4), each quoted-printable.
func textPart(m Outgoing) part {
	if m.HTML == "" {
		return quotedPrintablePart("text/plain; charset=utf-8", m.Text)
	}
	boundary := newBoundary()
	return part{
		header: [][2]string{{"Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": boundary})}},
		write: func(w io.Writer) error {
			alt := multipart.NewWriter(w)
			if err := alt.SetBoundary(boundary); err != nil {
				return err
			}
			for _, p := range []part{quotedPrintablePart("text/plain; charset=utf-8", m.Text), quotedPrintablePart("text/html; charset=utf-8", m.HTML)} {
				if err := createPart(alt, p); err != nil {
					return err
				}
			}
			return alt.Close()
		},
	}
}

func quotedPrintablePart(contentType, text string) part {
	return part{
		header: [][2]string{{"Content-Type", contentType}, {"Content-Transfer-Encoding", "quoted-printable"}},
		write: func(w io.Writer) error {
			qp := quotedprintable.NewWriter(w)
			if _, err := io.WriteString(qp, text); err != nil {
				return err
			}
			return qp.Close()
		},
	}
}

// newBoundary is random, so no body line can collide with it.
func newBoundary() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// attachmentPart streams one file through base64 in 76-character lines
// (RFC 2045 §6.8); memory stays flat whatever the file's size.
func attachmentPart(h attachmentHeader, a OutgoingAttachment) part {
	return part{header: h, write: func(w io.Writer) error {
		src, err := a.Open()
		if err != nil {
			return fmt.Errorf("open attachment: %w", err)
		}
		defer func() { _ = src.Close() }()
		lines := &lineWrapper{w: w}
		enc := base64.NewEncoder(base64.StdEncoding, lines)
		if _, err := io.Copy(enc, src); err != nil {
			return fmt.Errorf("attachment: %w", err)
		}
		if err := enc.Close(); err != nil {
			return err
		}
		return lines.end()
	}}
}

// lineWrapper inserts CRLF after every 76 bytes.
type lineWrapper struct {
	w   io.Writer
	col int
}

func (l *lineWrapper) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(76-l.col, len(p))
		if _, err := l.w.Write(p[:n]); err != nil {
			return written, err
		}
		written += n
		l.col += n
		p = p[n:]
		if l.col == 76 {
			if _, err := io.WriteString(l.w, "\r\n"); err != nil {
				return written, err
			}
			l.col = 0
		}
	}
	return written, nil
}

func (l *lineWrapper) end() error {
	if l.col == 0 {
		return nil
	}
	_, err := io.WriteString(l.w, "\r\n")
	return err
}
