// Package delivery sends the portal's emails. Notifications carry no PHI:
// only the organisation's name and a link (DESIGN.md §6, §7).
package delivery

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
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
	msg.SetMessageID()
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
	err = client.DialAndSendWithContext(ctx, msg)
	if m.Observe != nil {
		m.Observe(err)
	}
	if err != nil {
		m.log.WarnContext(ctx, "mail send failed", "to_domain", domainOf(e.To), "smtp_host", m.smtp.Host, "err", err)
		return fmt.Errorf("delivery: send: %w", err)
	}
	m.log.InfoContext(ctx, "mail sent", "to_domain", domainOf(e.To), "duration_ms", time.Since(start).Milliseconds())
	return nil
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
