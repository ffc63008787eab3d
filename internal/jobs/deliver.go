package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/messaging"
)

// TLSDelivery sends a staff message whole, straight to the provider's mail
// server, when the domain's checks say that server takes verified TLS
// (DESIGN.md §7). Everything else is held in the portal. It never sends PHI
// over a connection the Transport has not verified.
type TLSDelivery struct {
	Router    Router
	Transport Transport
	Content   OutgoingMessages
	Replies   ReplyTokens
	// From is the portal's own address (PORTAL_MAIL_FROM); the
	// representative's name is shown with it.
	From string
	// ReplyDomain takes emailed replies: reply+<token>@ReplyDomain.
	ReplyDomain string
	// FallbackAfter is how long temporary failures are retried before the
	// message is held in the portal with a notification instead.
	FallbackAfter time.Duration
}

// Router decides per recipient domain (delivery.Router).
type Router interface {
	Decide(ctx context.Context, domain string) (delivery.Decision, error)
}

// Transport delivers one message over verified TLS (delivery.Transport).
type Transport interface {
	Deliver(ctx context.Context, d delivery.Decision, envelopeFrom, rcpt string, writeMessage func(io.Writer) error) error
}

// OutgoingMessages reads a staff message for a TLS delivery.
type OutgoingMessages interface {
	Outgoing(ctx context.Context, messageID string) (messaging.Outgoing, error)
	OpenAttachmentForDelivery(ctx context.Context, attachmentID string) (io.ReadCloser, error)
}

// ReplyTokens mints the per-thread reply address of a delivery.
type ReplyTokens interface {
	MintReplyToken(ctx context.Context, threadID string) (string, error)
}

// Deliveries keeps the per-message delivery record staff see.
type Deliveries interface {
	// RecordDelivery may return before the record is on disk
	// (postgres.DeliveryStore): call it only from a job, whose completion,
	// committed after it, makes the record durable, and which runs again
	// if the database crashes first.
	RecordDelivery(ctx context.Context, d messaging.Delivery) error
	DeliveryOf(ctx context.Context, messageID string, recipientID int64) (messaging.Delivery, bool, error)
}

// outcome is what happened to one message for one recipient.
type outcome struct {
	record messaging.Delivery
	// notify asks for the portal notification to be emailed.
	notify bool
	// why is a short, fixed word for the metrics' reason label (the
	// record's Reason is free text).
	why string
}

func (o outcome) label() string {
	if o.why == "" {
		return "portal-only"
	}
	return o.why
}

// tryTLS delivers by TLS when the domain allows it. It returns the outcome
// to record; a plain error means a temporary failure River should retry.
// key names the email for its Message-ID (the same on every attempt).
func (t *TLSDelivery) tryTLS(ctx context.Context, log *slog.Logger, messageID, rcpt string, firstTried time.Time, key string) (outcome, error) {
	domain := rcpt[strings.LastIndexByte(rcpt, '@')+1:]
	d, err := t.Router.Decide(ctx, domain)
	if err != nil {
		return outcome{}, fmt.Errorf("jobs: decide delivery for %s: %w", domain, err)
	}
	if d.Method != delivery.MethodTLS {
		why := "checks-failed"
		if d.Policy == delivery.PolicyPortal {
			why = "admin-policy"
		}
		return portalOutcome(d, d.Reason, why), nil
	}
	out, err := t.Content.Outgoing(ctx, messageID)
	if err != nil {
		return outcome{}, err
	}
	token, err := t.Replies.MintReplyToken(ctx, out.ThreadID)
	if err != nil {
		return outcome{}, err
	}
	err = t.Transport.Deliver(ctx, d, bounceAddress(t.From), rcpt, func(w io.Writer) error {
		return delivery.WriteMessage(w, t.message(ctx, out, rcpt, token, key))
	})
	switch {
	case err == nil:
		return outcome{record: messaging.Delivery{Method: string(delivery.MethodTLS), Reason: d.Reason, MX: d.MX,
			TLSVersion: d.TLSVersion, VerifiedBy: verifiedBy(d)}, why: verifiedBy(d)}, nil
	case errors.Is(err, delivery.ErrFallback):
		return portalOutcome(d, "TLS delivery failed: "+err.Error(), "tls-failed"), nil
	case time.Since(firstTried) >= t.FallbackAfter:
		return portalOutcome(d, fmt.Sprintf("TLS delivery kept failing for %s: %v", t.FallbackAfter, err), "retries-exhausted"), nil
	}
	log.WarnContext(ctx, "TLS delivery failed; will retry", "message_id", messageID, "domain", domain, "err", err)
	return outcome{}, err
}

// portalOutcome holds the message in the portal: with a notification,
// unless the domain's policy forbids plain mail without TLS.
func portalOutcome(d delivery.Decision, reason, why string) outcome {
	if !d.NotifyAllowed {
		reason += "; " + d.Domain + " requires TLS, so no notification was emailed"
	}
	return outcome{record: messaging.Delivery{Method: string(delivery.MethodPortal), Reason: reason, MX: d.MX},
		notify: d.NotifyAllowed, why: why}
}

// message is the email a provider receives: the whole message, marked
// secure in its subject as the bulletin promises, replies going back into
// the thread. Its Message-ID comes from key: a copy sent again after a
// crash carries the same one (its reply address differs, but every reply
// token of the thread stays valid, so either copy works).
func (t *TLSDelivery) message(ctx context.Context, out messaging.Outgoing, rcpt, token, key string) delivery.Outgoing {
	from, err := mail.ParseAddress(t.From)
	if err != nil {
		from = &mail.Address{Address: t.From}
	}
	m := delivery.Outgoing{
		From:      mail.Address{Name: out.SenderName, Address: from.Address},
		To:        mail.Address{Address: rcpt},
		ReplyTo:   mail.Address{Address: "reply+" + token + "@" + t.ReplyDomain},
		Subject:   "[SECURE] " + out.Subject,
		Date:      out.CreatedAt,
		MessageID: delivery.MessageIDFor(key, from.Address),
		Text:      out.Body,
	}
	for _, a := range out.Attachments {
		m.Attachments = append(m.Attachments, delivery.OutgoingAttachment{Name: a.Name, ContentType: a.ContentType,
			Open: func() (io.ReadCloser, error) { return t.Content.OpenAttachmentForDelivery(ctx, a.ID) }})
	}
	return m
}

// bounceAddress is the envelope sender: the bare address of From.
func bounceAddress(from string) string {
	if a, err := mail.ParseAddress(from); err == nil {
		return a.Address
	}
	return from
}

// verifiedBy says what vouched for the server's certificate.
func verifiedBy(d delivery.Decision) string {
	switch {
	case d.DANE:
		return "DANE"
	case d.MTASTSMode == delivery.MTASTSEnforce:
		return "MTA-STS enforce"
	}
	return "certificate"
}
