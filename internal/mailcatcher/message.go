package mailcatcher

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"slices"
	"strings"
	"time"
)

// maxMIMEDepth bounds multipart nesting. Real mail nests two or three
// levels; the limit only stops pathological input from recursing forever.
const maxMIMEDepth = 16

// Message is one received mail, parsed so tests can assert on what a human
// would see rather than on MIME encoding details.
type Message struct {
	// ID is assigned on arrival, starts at 1 and never repeats within a
	// Server, even across Reset.
	ID         int
	ReceivedAt time.Time
	// ReceivedBy is the name of the listener that took the message:
	// "localhost" for the one Start opened, else ListenOptions.Host.
	// ReceivedOn is that listener's address.
	ReceivedBy string
	ReceivedOn string
	// TLS describes the TLS the message arrived under ("TLS 1.3,
	// TLS_AES_128_GCM_SHA256"); empty when it arrived in cleartext.
	TLS string
	// From is the address in the From header, falling back to the SMTP
	// envelope sender when the header is missing or unparseable.
	From string
	// To is the SMTP envelope recipient list (RCPT TO), not the To header,
	// because that is who actually receives the mail (it includes Bcc).
	To []string
	// Subject is decoded from RFC 2047 encoded words.
	Subject string
	// Text and HTML are the decoded text/plain and text/html bodies with
	// line endings normalised to "\n".
	Text string
	HTML string
	// Attachments holds every other leaf part, plus any part explicitly
	// marked as an attachment, with its transfer encoding removed.
	Attachments []Attachment
	// Raw is the message exactly as received over SMTP.
	Raw []byte
}

// Attachment is a decoded non-body MIME part.
type Attachment struct {
	Filename    string
	ContentType string
	Data        []byte
}

// clone deep-copies m so stored messages are never shared with callers.
func (m Message) clone() Message {
	m.To = slices.Clone(m.To)
	m.Raw = slices.Clone(m.Raw)
	m.Attachments = slices.Clone(m.Attachments)
	for i := range m.Attachments {
		m.Attachments[i].Data = slices.Clone(m.Attachments[i].Data)
	}
	return m
}

var (
	textURL  = regexp.MustCompile(`https?://[^\s<>"]+`)
	hrefAttr = regexp.MustCompile(`(?i)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
)

// Links returns the http(s) URLs found in the text body and in href
// attributes of the HTML body, in order of appearance and without
// duplicates. Tests use it to follow e.g. the "open secure message" link.
// HTML attribute values are entity-unescaped so "&amp;" in a query string
// comes back as "&".
func (m Message) Links() []string {
	var links []string
	add := func(u string) {
		u = strings.TrimSpace(u)
		lower := strings.ToLower(u)
		if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
			return
		}
		if !slices.Contains(links, u) {
			links = append(links, u)
		}
	}
	for _, u := range textURL.FindAllString(m.Text, -1) {
		add(trimURLPunctuation(u))
	}
	for _, sub := range hrefAttr.FindAllStringSubmatch(m.HTML, -1) {
		add(html.UnescapeString(sub[1] + sub[2] + sub[3]))
	}
	return links
}

// trimURLPunctuation drops sentence punctuation that plain-text mail puts
// right after a URL ("visit https://x/y." or "(see https://x/y)").
func trimURLPunctuation(u string) string {
	for len(u) > 0 {
		last := u[len(u)-1]
		switch {
		case strings.IndexByte(".,;:!?'", last) >= 0:
			u = u[:len(u)-1]
		case last == ')' && strings.Count(u, "(") < strings.Count(u, ")"):
			u = u[:len(u)-1]
		default:
			return u
		}
	}
	return u
}

// wordDecoder decodes RFC 2047 words in the charsets the standard library
// knows (UTF-8, US-ASCII, ISO-8859-1); anything else is left encoded rather
// than failing the whole message.
var wordDecoder = &mime.WordDecoder{}

func decodeHeader(v string) string {
	d, err := wordDecoder.DecodeHeader(v)
	if err != nil {
		return v
	}
	return d
}

// ParseMessage turns raw RFC 5322 bytes into a Message (without the
// envelope fields, which the SMTP session fills in). Tests also use it on
// what other SMTP peers received.
func ParseMessage(raw []byte) (Message, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("mailcatcher: parse message header: %w", err)
	}
	m := Message{
		Raw:     raw,
		Subject: decodeHeader(msg.Header.Get("Subject")),
	}
	if from, err := msg.Header.AddressList("From"); err == nil && len(from) > 0 {
		m.From = from[0].Address
	}
	if err := m.walkPart(textproto.MIMEHeader(msg.Header), msg.Body, 0); err != nil {
		return Message{}, err
	}
	return m, nil
}

// walkPart decodes one MIME entity and recurses into multiparts. Nested
// multipart/mixed and multipart/alternative are flattened: the first text
// and HTML bodies found become Text and HTML.
func (m *Message) walkPart(h textproto.MIMEHeader, body io.Reader, depth int) error {
	if depth > maxMIMEDepth {
		return fmt.Errorf("mailcatcher: MIME nesting deeper than %d", maxMIMEDepth)
	}
	mediaType, params := "text/plain", map[string]string{"charset": "us-ascii"}
	if ct := h.Get("Content-Type"); ct != "" {
		mt, p, err := mime.ParseMediaType(ct)
		if err != nil {
			return fmt.Errorf("mailcatcher: parse Content-Type %q: %w", ct, err)
		}
		mediaType, params = mt, p
	}

	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("mailcatcher: %s without boundary", mediaType)
		}
		mr := multipart.NewReader(body, boundary)
		for {
			// NextRawPart, not NextPart: NextPart silently decodes
			// quoted-printable and hides the header, and we want one
			// decoding path for every transfer encoding.
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailcatcher: read %s part: %w", mediaType, err)
			}
			if err := m.walkPart(p.Header, p, depth+1); err != nil {
				return err
			}
		}
	}

	data, err := io.ReadAll(transferDecoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("mailcatcher: decode %s part: %w", mediaType, err)
	}

	disposition, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = decodeHeader(filename)

	isBody := disposition != "attachment" && filename == ""
	switch {
	case isBody && mediaType == "text/plain":
		m.Text = appendBody(m.Text, toUTF8(data, params["charset"]))
	case isBody && mediaType == "text/html":
		m.HTML = appendBody(m.HTML, toUTF8(data, params["charset"]))
	default:
		m.Attachments = append(m.Attachments, Attachment{
			Filename:    filename,
			ContentType: mediaType,
			Data:        data,
		})
	}
	return nil
}

// transferDecoder undoes Content-Transfer-Encoding. Unknown encodings are
// passed through: showing the undecoded bytes is more useful in a catcher
// than rejecting the mail.
func transferDecoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips the CR/LF line breaks that MIME requires.
		return base64.NewDecoder(base64.StdEncoding, r)
	default:
		return r
	}
}

// toUTF8 converts the single-byte charsets we can handle without extra
// dependencies; everything else is assumed to already be UTF-8 compatible.
func toUTF8(b []byte, charset string) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1":
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r)
	default:
		return string(b)
	}
}

// appendBody adds a body part with normalised line endings. Several inline
// text parts (e.g. a forwarded message) are kept, separated by a newline.
func appendBody(existing, part string) string {
	part = strings.ReplaceAll(part, "\r\n", "\n")
	if existing == "" {
		return part
	}
	return existing + "\n" + part
}
