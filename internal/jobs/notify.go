package jobs

import (
	"context"
	"errors"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/mail"
)

// NotifyWorker emails one recipient that a secure message waits for them.
// A provider who has not registered gets a fresh registration link that lands
// on the message; everyone else a link to the thread (through sign-in).
type NotifyWorker struct {
	river.WorkerDefaults[messaging.NotifyMessage]
	Pool     *pgxpool.Pool
	Accounts *accounts.Service
	Mailer   Mailer
	Site     MailSite
	Log      *slog.Logger
}

func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[messaging.NotifyMessage]) error {
	a := job.Args
	var threadID string
	err := w.Pool.QueryRow(ctx, `SELECT thread_id::text FROM messages WHERE id = $1 AND recalled_at IS NULL`, a.MessageID).Scan(&threadID)
	if errors.Is(err, pgx.ErrNoRows) {
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
	default:
		w.Log.InfoContext(ctx, "notification skipped: recipient cannot sign in", "user_id", u.ID, "status", u.Status)
		return nil
	}
	html, err := render(ctx, mail.NotificationHTML(v))
	if err != nil {
		return err
	}
	file, err := render(ctx, mail.SecureMessageFile(v))
	if err != nil {
		return err
	}
	err = w.Mailer.Send(ctx, delivery.Email{To: u.Email, Subject: v.Subject(), Text: v.Text(), HTML: html,
		Attachments: []delivery.Attachment{{Name: "SecureMessage.html", ContentType: "text/html", Data: []byte(file)}}})
	if err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "notification sent", "message_id", a.MessageID, "user_id", u.ID, "register", v.Register, "attempt", job.Attempt)
	return nil
}
