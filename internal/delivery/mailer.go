// Package delivery sends the portal's emails. Notifications carry no PHI:
// only the organisation's name and a link (DESIGN.md §6, §7).
package delivery

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"time"

	mail "github.com/wneessen/go-mail"

	"github.com/healthnet/secureportal/internal/config"
)

// Email is one message to one recipient.
type Email struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// Attachments are small generated files (e.g. SecureMessage.html).
	Attachments []Attachment
	// Key names this email the same way on every attempt to send it (a
	// River job's kind and id): its Message-ID is derived from it (see
	// MessageIDFor), so if a crash makes the portal send it twice, the
	// receiving system can drop the second copy. Empty: a random Message-ID.
	Key string
	// Accepted, when set, is called once the server has accepted the
	// message (250 after DATA), before the session is closed; the caller
	// records the send there. Its error is Send's.
	Accepted func() error
}

// Attachment is a generated file sent with an email.
type Attachment struct {
	Name        string
	ContentType string
	Data        []byte
}

// SMTPMailer sends email through the configured SMTP server.
type SMTPMailer struct {
	smtp config.SMTP
	from string
	log  *slog.Logger
	// Observe, when set, is told the outcome of every send (metrics).
	Observe func(err error)
}

// NewSMTPMailer returns a mailer for cfg's SMTP server and sender.
func NewSMTPMailer(cfg *config.Config, log *slog.Logger) *SMTPMailer {
	return &SMTPMailer{smtp: cfg.SMTP, from: cfg.MailFrom, log: log}
}

// Send delivers e, returning an error the caller (a River job) retries.
// Once the server has accepted the message, Send reports success even if
// ending the session afterwards (RSET, QUIT) fails: retrying then would
// deliver it twice.
// The log line names the recipient's domain only, never the subject or body.
func (m *SMTPMailer) Send(ctx context.Context, e Email) error {
	msg := mail.NewMsg()
	if err := msg.From(m.from); err != nil {
		return fmt.Errorf("delivery: from: %w", err)
	}
	if err := msg.To(e.To); err != nil {
		return fmt.Errorf("delivery: to: %w", err)
	}
	msg.Subject(e.Subject)
	msg.SetDate()
	if e.Key != "" {
		id := MessageIDFor(e.Key, m.from)
		msg.SetMessageIDWithValue(id[1 : len(id)-1]) // go-mail adds the angle brackets
	} else {
		msg.SetMessageID()
	}
	msg.SetBodyString(mail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, e.HTML)
	}
	for _, a := range e.Attachments {
		if err := msg.AttachReader(a.Name, bytes.NewReader(a.Data), mail.WithFileContentType(mail.ContentType(a.ContentType))); err != nil {
			return fmt.Errorf("delivery: attach: %w", err)
		}
	}
	client, err := mail.NewClient(m.smtp.Host, m.clientOptions()...)
	if err != nil {
		return fmt.Errorf("delivery: smtp client: %w", err)
	}
	start := time.Now()
	if err = client.DialWithContext(ctx); err == nil {
		err = client.Send(msg)
	}
	if msg.IsDelivered() {
		if err != nil {
			m.log.WarnContext(ctx, "mail accepted, but the session did not end cleanly", "to_domain", domainOf(e.To), "smtp_host", m.smtp.Host, "err", err)
			err = nil
		}
		if e.Accepted != nil {
			err = e.Accepted()
		}
	}
	if closeErr := client.Close(); closeErr != nil && msg.IsDelivered() {
		m.log.InfoContext(ctx, "mail accepted; closing the session failed", "to_domain", domainOf(e.To), "smtp_host", m.smtp.Host, "err", closeErr)
	}
	if m.Observe != nil {
		m.Observe(sendErr(msg, err))
	}
	if err != nil {
		if msg.IsDelivered() {
			return fmt.Errorf("delivery: mail accepted, but: %w", err)
		}
		m.log.WarnContext(ctx, "mail send failed", "to_domain", domainOf(e.To), "smtp_host", m.smtp.Host, "err", err)
		return fmt.Errorf("delivery: send: %w", err)
	}
	m.log.InfoContext(ctx, "mail sent", "to_domain", domainOf(e.To), "duration_ms", time.Since(start).Milliseconds())
	return nil
}

// sendErr is what the metrics count: a message the server accepted is a
// success, whatever happened after.
func sendErr(msg *mail.Msg, err error) error {
	if msg.IsDelivered() {
		return nil
	}
	return err
}

// MessageIDFor is the Message-ID of the email named key, "<hash@domain>":
// the same for every attempt to send it, so a receiver that sees it twice
// can keep one. The hash (SHA-256 of key, 128 bits shown) keeps internal
// ids out of the header; the domain is that of from, the portal's address.
func MessageIDFor(key, from string) string {
	domain := "localhost"
	if a, err := netmail.ParseAddress(from); err == nil {
		if d := domainOf(a.Address); d != "" {
			domain = d
		}
	}
	sum := sha256.Sum256([]byte("secureportal mail " + key))
	return "<" + hex.EncodeToString(sum[:16]) + "@" + strings.ToLower(domain) + ">"
}

func (m *SMTPMailer) clientOptions() []mail.Option {
	opts := []mail.Option{mail.WithPort(m.smtp.Port), mail.WithTimeout(30 * time.Second), mail.WithHELO("localhost")}
	switch m.smtp.TLS {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "tls":
		opts = append(opts, mail.WithSSL())
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if m.smtp.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(m.smtp.Username), mail.WithPassword(m.smtp.Password))
	}
	return opts
}

func domainOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[i+1:]
		}
	}
	return ""
}
