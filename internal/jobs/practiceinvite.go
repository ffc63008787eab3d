package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/i18n"
	"github.com/healthnet/secureportal/internal/practices"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/mail"
)

// PracticeInviteWorker emails an invitation into a practice, once. For a
// new address it mints the registration link right before sending, as
// LinkEmailWorker does, and the link leads to /practice after registering.
type PracticeInviteWorker struct {
	river.WorkerDefaults[practices.InviteEmail]
	AccountMail
	Practices *practices.Service
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *PracticeInviteWorker) Timeout(*river.Job[practices.InviteEmail]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *PracticeInviteWorker) Work(ctx context.Context, job *river.Job[practices.InviteEmail]) error {
	if _, sent, err := sentBefore(ctx, w.Sent, job.ID); err != nil || sent {
		return err
	}
	inv, err := w.Practices.Invitation(ctx, job.Args.InviteID)
	if errors.Is(err, practices.ErrNotFound) {
		w.Log.InfoContext(ctx, "practice invitation email skipped: answered, withdrawn or expired", "invite_id", job.Args.InviteID)
		return nil
	}
	if err != nil {
		return err
	}
	invitee, err := w.Accounts.User(ctx, inv.UserID)
	if err != nil {
		return err
	}
	lang, err := languageOf(ctx, w.Accounts, invitee)
	if err != nil {
		return err
	}
	v := mail.PracticeInviteView{Speech: mail.Speech{Lang: lang}, OrgName: w.Site.OrgName, Practice: inv.PracticeName, InvitedBy: inv.InvitedBy, URL: w.Site.link("/practice"),
		Until: i18n.Date(i18n.With(ctx, lang), inv.ExpiresAt), HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
	if job.Args.Register {
		raw, _, err := w.Accounts.IssueLink(ctx, inv.UserID, accounts.PurposeRegister, "/practice")
		switch {
		case errors.Is(err, accounts.ErrNotFound):
			// Registered since (or switched off): the practice page is
			// the way in.
		case err != nil:
			return err
		default:
			v.Register, v.URL, v.ExpiresIn = true, w.Site.link("/register/"+raw), layout.Duration(w.Site.RegistrationTTL)
		}
	}
	html, err := render(v.Context(ctx), mail.PracticeInviteHTML(v))
	if err != nil {
		return err
	}
	err = w.Mailer.Send(ctx, delivery.Email{To: inv.Email, Subject: v.Subject(), Text: v.Text(), HTML: html,
		Key:      mailKey(sentPracticeInvite, job.ID, job.Attempt, v.Register),
		Accepted: func() error { return markSent(ctx, w.Sent, w.Log, job.ID, sentPracticeInvite) }})
	if err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "practice invitation sent", "invite_id", inv.ID, "user_id", inv.UserID, "with_registration_link", v.Register)
	return nil
}
