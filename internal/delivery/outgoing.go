package delivery

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
)

// Outgoing is a whole secure message for TLS delivery.
type Outgoing struct {
	From    mail.Address // the portal's address with the representative's name
	To      mail.Address
	ReplyTo mail.Address // the thread's reply address; empty Address omits it
	// Subject is written as given; the caller adds "[SECURE] ".
	Subject   string
	MessageID string // "<id@host>"; empty makes one
	Date      time.Time
	Text      string
	HTML      string // optional alternative to Text
	// Attachments are streamed from their source, never held whole.
	Attachments []OutgoingAttachment
}

// OutgoingAttachment is one file of an Outgoing message.
type OutgoingAttachment struct {
	Name        string
	ContentType string // "" is application/octet-stream
	Open        func() (io.ReadCloser, error)
}

// attachmentHeader is a checked attachment's part header.
type attachmentHeader = [][2]string

// prepareMessage checks every header value and renders the message's
// header fields and each attachment's part header, so that a refused
// message is refused before anything is written.
func prepareMessage(m Outgoing) ([][2]string, []attachmentHeader, error) {
	from, err := formatAddress("From", m.From)
	if err != nil {
		return nil, nil, err
	}
	to, err := formatAddress("To", m.To)
	if err != nil {
		return nil, nil, err
	}
	if err := checkHeaderText("Subject", m.Subject); err != nil {
		return nil, nil, err
	}
	id, err := messageID(m.MessageID, m.From.Address)
	if err != nil {
		return nil, nil, err
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	head := [][2]string{{"From", from}, {"To", to}}
	if m.ReplyTo.Address != "" {
		replyTo, err := formatAddress("Reply-To", m.ReplyTo)
		if err != nil {
			return nil, nil, err
		}
		head = append(head, [2]string{"Reply-To", replyTo})
	}
	head = append(head,
		[2]string{"Subject", encodeText(m.Subject)},
		[2]string{"Date", date.Format(time.RFC1123Z)},
		[2]string{"Message-ID", id},
		[2]string{"MIME-Version", "1.0"},
	)
	parts := make([]attachmentHeader, 0, len(m.Attachments))
	for _, a := range m.Attachments {
		h, err := attachmentPartHeader(a)
		if err != nil {
			return nil, nil, err
		}
		parts = append(parts, h)
	}
	return head, parts, nil
}

func messageID(id, from string) (string, error) {
	if id == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		host := from[strings.LastIndexByte(from, '@')+1:]
		return "<" + hex.EncodeToString(b[:]) + "@" + host + ">", nil
	}
	if err := checkHeaderText("Message-ID", id); err != nil {
		return "", err
	}
	inner := strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	if !strings.Contains(inner, "@") || strings.ContainsAny(inner, " <>") {
		return "", fmt.Errorf("delivery: Message-ID %q is not <id@host>", id)
	}
	return "<" + inner + ">", nil
}

func attachmentPartHeader(a OutgoingAttachment) (attachmentHeader, error) {
	if err := checkHeaderText("attachment name", a.Name+a.ContentType); err != nil {
		return nil, err
	}
	if a.Open == nil {
		return nil, fmt.Errorf("delivery: attachment %q has no Open", a.Name)
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return nil, fmt.Errorf("delivery: attachment content type %q: %w", ct, err)
	}
	params["name"] = a.Name
	// FormatMediaType quotes or RFC 2231-encodes the file name, so any
	// name (quotes, semicolons, non-ASCII) stays one parameter.
	return attachmentHeader{
		{"Content-Type", mime.FormatMediaType(mediaType, params)},
		{"Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name})},
		{"Content-Transfer-Encoding", "base64"},
	}, nil
}
