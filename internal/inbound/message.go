package inbound

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/htmlindex"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/spool"
)

// maxTextBytes bounds the text parts of a reply, held in memory: several
// times the 50,000 characters a message body may have, so an over-long
// reply gets the service's own answer rather than this one.
const maxTextBytes = 1 << 20

// errNotMIME is a message the MIME parser could not read.
var errNotMIME = errors.New("inbound: malformed message")

// reply is a message read to its end: its text, and each attachment spooled
// to disk encrypted (package spool). The database is not touched until the
// whole message has arrived, however slowly it came, so a slow sender never
// holds a transaction or a thread's lock; and no attachment is ever whole in
// memory or readable on disk.
//
// As messaging.Uploads it hands the files to the store one by one.
type reply struct {
	body   string
	files  []spooledFile
	handed int
	texts  textParts
}

type spooledFile struct {
	name string
	file *spool.File
}

// textParts collects the inline text of a message: every text/plain part
// (a client may split the text around an attachment), and the HTML parts in
// case there is no plain text at all.
type textParts struct {
	plain, html strings.Builder
	size        int
}

// readReply reads a whole message. The body is its plain text, quoted
// history included as the provider sent it (the page folds it); when there
// is only HTML, the HTML's text. Every other part is an attachment.
func (srv *Server) readReply(r io.Reader) (*reply, error) {
	mr, err := mail.CreateReader(r)
	if err != nil && !message.IsUnknownCharset(err) {
		return nil, fmt.Errorf("inbound: read header: %w: %v", errNotMIME, err)
	}
	m := &reply{}
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err == nil || message.IsUnknownCharset(err) {
			err = srv.readPart(m, p)
		} else {
			err = fmt.Errorf("inbound: read part: %w: %v", errNotMIME, err)
		}
		if err != nil {
			m.Close()
			return nil, err
		}
	}
	m.body = m.texts.plain.String()
	if strings.TrimSpace(m.body) == "" {
		m.body = htmlText(m.texts.html.String())
	}
	m.body = strings.ToValidUTF8(m.body, "\uFFFD")
	return m, nil
}

func (srv *Server) readPart(m *reply, p *mail.Part) error {
	h := partHeader(p.Header)
	name := fileName(h)
	if kind, params, _ := h.ContentType(); name == "" && isInline(p.Header) && (kind == "text/plain" || kind == "text/html") {
		return m.texts.add(kind, decodeCharset(params["charset"], p.Body))
	}
	// Refused here, before any disk is spent, what the store would refuse.
	if len(m.files) == srv.settings.MaxFiles {
		return messaging.ErrTooManyFiles
	}
	if _, err := messaging.CheckFile(messaging.CleanFilename(name)); err != nil {
		return err
	}
	f, err := spool.Write(srv.settings.SpoolDir, &partReader{p.Body}, srv.settings.MaxFileBytes)
	if errors.Is(err, spool.ErrTooLarge) {
		return messaging.ErrTooLarge
	}
	if err != nil {
		return fmt.Errorf("inbound: spool attachment: %w", err)
	}
	m.files = append(m.files, spooledFile{name: name, file: f})
	return nil
}

func (t *textParts) add(kind string, body io.Reader) error {
	b, err := io.ReadAll(io.LimitReader(&partReader{body}, int64(maxTextBytes-t.size)+1))
	if err != nil {
		return fmt.Errorf("inbound: read text: %w", err)
	}
	if t.size += len(b); t.size > maxTextBytes {
		return messaging.ErrTooLarge
	}
	dst := &t.plain
	if kind == "text/html" {
		dst = &t.html
	}
	if dst.Len() > 0 && !strings.HasSuffix(dst.String(), "\n") {
		dst.WriteString("\n")
	}
	dst.Write(b)
	return nil
}

// Next hands the store the next attachment, decrypted from the spool as the
// store reads it.
func (m *reply) Next() (messaging.Upload, error) {
	if m.handed == len(m.files) {
		return messaging.Upload{}, io.EOF
	}
	f := m.files[m.handed]
	m.handed++
	body, err := f.file.Open()
	return messaging.Upload{Name: f.name, Body: body}, err
}

// Close frees the spooled files.
func (m *reply) Close() {
	for _, f := range m.files {
		f.file.Close()
	}
}

// partReader marks a part's decoding failures (bad base64, a broken
// boundary) as a malformed message; a failure of the connection underneath
// is recorded by wireReader and answered first.
type partReader struct{ r io.Reader }

func (p *partReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %v", errNotMIME, err)
	}
	return n, err
}

func partHeader(h mail.PartHeader) message.Header {
	switch h := h.(type) {
	case *mail.InlineHeader:
		return h.Header
	case *mail.AttachmentHeader:
		return h.Header
	}
	return message.Header{}
}

func isInline(h mail.PartHeader) bool {
	_, ok := h.(*mail.InlineHeader)
	return ok
}

// fileName is a part's file name: the Content-Disposition filename (RFC
// 2183, RFC 2231), else the older Content-Type name parameter, RFC 2047
// words decoded. "" when the part has none.
func fileName(h message.Header) string {
	_, params, _ := h.ContentDisposition()
	name := params["filename"]
	if name == "" {
		_, params, _ = h.ContentType()
		name = params["name"]
	}
	if decoded, err := wordDecoder.DecodeHeader(name); err == nil {
		name = decoded
	}
	return name
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(label string, r io.Reader) (io.Reader, error) {
	enc, err := htmlindex.Get(label)
	if err != nil {
		return nil, err
	}
	return enc.NewDecoder().Reader(r), nil
}}

// decodeCharset turns a text part into UTF-8. go-message is left to pass
// every other charset through undecoded (its charset package is not
// imported), because it would also transcode text attachments, and a file
// must arrive with the bytes that were sent. Labels are read as browsers
// read them (WHATWG), which is also how mail clients label text in
// practice; an unknown one is kept as is, invalid bytes replaced later.
func decodeCharset(label string, r io.Reader) io.Reader {
	enc, err := htmlindex.Get(label)
	if label == "" || err != nil {
		return r
	}
	return enc.NewDecoder().Reader(r)
}
