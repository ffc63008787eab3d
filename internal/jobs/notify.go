package jobs

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/text/language"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/mail"
)

// NotifyWorker brings one message to one recipient. With TLS set
// (PORTAL_DELIVERY_MODE=tls-first) a provider whose mail server takes
// verified TLS gets the whole message in their inbox; otherwise the message
// waits in the portal and the recipient is emailed a notification without
// PHI: a provider who has not registered gets a fresh registration link that
// lands on the message, everyone else a link to the thread (through
// sign-in). Either way a provider's delivery is recorded for staff.
//
// Whatever it emails (the notification or the whole message) is marked in
// Sent once accepted; a job run again after a crash that finds the mark
// records the delivery and sends nothing.
type NotifyWorker struct {
	river.WorkerDefaults[messaging.NotifyMessage]
	Messages   LiveThreads
	Accounts   *accounts.Service
	Mailer     Mailer
	Site       MailSite
	TLS        *TLSDelivery // nil: every message waits in the portal
	Deliveries Deliveries
	// Sent remembers accepted emails (nil: not remembered, tests only).
	Sent   SentMail
	Limits Limits
	// Observe, when set, counts each recorded delivery (metrics).
	Observe func(method, reason string)
	Log     *slog.Logger
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *NotifyWorker) Timeout(*river.Job[messaging.NotifyMessage]) time.Duration {
	return w.Limits.orDefault().Delivery
}

// LiveThreads finds the thread of a message still there to read.
type LiveThreads interface {
	// LiveThreadOf returns the message's thread id, or messaging.ErrNotFound
	// when the message is recalled, shredded or gone.
	LiveThreadOf(ctx context.Context, messageID string) (string, error)
}

func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[messaging.NotifyMessage]) error {
	a := job.Args
	threadID, err := w.Messages.LiveThreadOf(ctx, a.MessageID)
	if errors.Is(err, messaging.ErrNotFound) {
		w.Log.InfoContext(ctx, "notification skipped: message gone or recalled", "message_id", a.MessageID)
		return nil
	}
	if err != nil {
		return err
	}
	u, err := w.Accounts.User(ctx, a.RecipientID)
	if err != nil {
		return err
	}
	provider := u.Role == accounts.RoleProvider && (u.Status == accounts.StatusPending || u.Status == accounts.StatusActive)
	if a.Reminder {
		return w.remind(ctx, job, u, threadID)
	}
	if provider {
		if _, done, err := w.Deliveries.DeliveryOf(ctx, a.MessageID, u.ID); err != nil || done {
			return err // done: an earlier run delivered and recorded it; do not send twice
		}
	}
	if kind, sent, err := sentBefore(ctx, w.Sent, job.ID); err != nil {
		return err
	} else if sent {
		return w.finishSent(ctx, job, u, provider, kind)
	}
	result := outcome{notify: true, record: messaging.Delivery{Method: string(delivery.MethodPortal), Reason: "every message waits in the portal (delivery mode portal-only)"}}
	if provider && w.TLS != nil {
		if result, err = w.TLS.tryTLS(ctx, w.Log, a.MessageID, u.Email, job.CreatedAt, mailKey(sentTLSDelivery, job.ID, job.Attempt, false)); err != nil {
			return err
		}
		if result.record.Method == string(delivery.MethodTLS) {
			if err := markSent(ctx, w.Sent, w.Log, job.ID, sentTLSDelivery); err != nil {
				return err
			}
		}
	}
	lang := language.English
	if result.notify && provider && u.Status == accounts.StatusActive {
		// A provider who chose one email a day hears of it in the digest;
		// the profile also says which language the email speaks (read
		// once: every query here waits for one of a few connections the
		// job workers share).
		p, err := w.Accounts.Profile(ctx, u)
		if err != nil {
			return err
		}
		if p.Notify == accounts.NotifyDaily {
			result.notify = false
			result.record.Reason += "; announced in the provider's daily digest"
		}
		lang, _ = i18n.Parse(p.Language)
	}
	if result.notify {
		if err := w.notify(ctx, job, u, threadID, lang); err != nil {
			return err
		}
	}
	if !provider {
		return nil
	}
	rec := result.record
	rec.MessageID, rec.RecipientID, rec.Notified, rec.At = a.MessageID, u.ID, result.notify, time.Now()
	if err := w.Deliveries.RecordDelivery(ctx, rec); err != nil {
		return err
	}
	if w.Observe != nil {
		w.Observe(rec.Method, result.label())
	}
	w.Log.InfoContext(ctx, "message delivered", "message_id", a.MessageID, "user_id", u.ID, "method", rec.Method,
		"notified", rec.Notified, "mx", rec.MX, "tls_version", rec.TLSVersion)
	return nil
}

// remind emails a provider the notification again for a message that
// waits unopened (staff asked): no delivery over TLS is tried and none is
// recorded; the job's own mark keeps it to one email.
func (w *NotifyWorker) remind(ctx context.Context, job *river.Job[messaging.NotifyMessage], u accounts.User, threadID string) error {
	if _, sent, err := sentBefore(ctx, w.Sent, job.ID); err != nil || sent {
		return err
	}
	lang, err := languageOf(ctx, w.Accounts, u)
	if err != nil {
		return err
	}
	if err := w.notify(ctx, job, u, threadID, lang); err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "reminder sent", "message_id", job.Args.MessageID, "user_id", u.ID)
	return nil
}

// finishSent ends a job whose email an earlier attempt had accepted before
// the process died: it sends nothing, and records a provider's delivery,
// which that attempt may not have reached (without the mail server's
// details, which died with it).
func (w *NotifyWorker) finishSent(ctx context.Context, job *river.Job[messaging.NotifyMessage], u accounts.User, provider bool, kind string) error {
	a := job.Args
	w.Log.InfoContext(ctx, "email already sent by an earlier attempt; not sending again", "message_id", a.MessageID, "user_id", u.ID,
		"kind", kind, "attempt", job.Attempt)
	if !provider {
		return nil
	}
	rec := messaging.Delivery{MessageID: a.MessageID, RecipientID: u.ID, Method: string(delivery.MethodPortal), Notified: true,
		Reason: "notification emailed; the portal stopped before recording this delivery", At: time.Now()}
	if kind == sentTLSDelivery {
		rec.Method, rec.Notified = string(delivery.MethodTLS), false
		rec.Reason = "delivered over verified TLS; the portal stopped before recording the mail server's details"
	}
	if err := w.Deliveries.RecordDelivery(ctx, rec); err != nil {
		return err
	}
	if w.Observe != nil {
		w.Observe(rec.Method, "recorded-after-restart")
	}
	return nil
}

// notify emails the recipient a link to the message waiting in the portal;
// an active provider's in lang, the language of their profile, with a link
// that opens the portal in it too (?lang=, which the portal remembers).
func (w *NotifyWorker) notify(ctx context.Context, job *river.Job[messaging.NotifyMessage], u accounts.User, threadID string, lang language.Tag) error {
	a := job.Args
	v := mail.NotificationView{OrgName: w.Site.OrgName, HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
	switch {
	case u.Role != accounts.RoleProvider:
		v.ToStaff, v.URL = true, w.Site.link("/staff/threads/"+threadID)
	case u.Status == accounts.StatusPending:
		raw, _, err := w.Accounts.IssueLink(ctx, u.ID, accounts.PurposeRegister, "/threads/"+threadID)
		if err != nil {
			return err
		}
		v.Register, v.URL, v.ExpiresIn = true, w.Site.link("/register/"+raw), layout.Duration(w.Site.RegistrationTTL)
	case u.Status == accounts.StatusActive:
		v.URL = w.Site.link("/threads/" + threadID)
		if lang == i18n.Spanish {
			v.Lang, v.URL = lang, v.URL+"?lang=es"
		}
	default:
		w.Log.InfoContext(ctx, "notification skipped: recipient cannot sign in", "user_id", u.ID, "status", u.Status)
		return nil
	}
	html, err := render(v.Context(ctx), mail.NotificationHTML(v))
	if err != nil {
		return err
	}
	file, err := render(v.Context(ctx), mail.SecureMessageFile(v))
	if err != nil {
		return err
	}
	err = w.Mailer.Send(ctx, delivery.Email{To: u.Email, Subject: v.Subject(), Text: v.Text(), HTML: html,
		Attachments: []delivery.Attachment{{Name: "SecureMessage.html", ContentType: "text/html", Data: []byte(file)}},
		Key:         mailKey(sentNotification, job.ID, job.Attempt, v.Register),
		Accepted:    func() error { return markSent(ctx, w.Sent, w.Log, job.ID, sentNotification) }})
	if err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "notification sent", "message_id", a.MessageID, "user_id", u.ID, "register", v.Register, "attempt", job.Attempt)
	return nil
}
