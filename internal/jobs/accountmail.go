package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/a-h/templ"
	"github.com/riverqueue/river"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/templates/layout"
	"github.com/healthnet/secureportal/templates/mail"
)

// Mailer sends one email; delivery.SMTPMailer is the real one.
type Mailer interface {
	Send(ctx context.Context, e delivery.Email) error
}

// MailSite is what emails say about the portal: where it is and whom to call.
type MailSite struct {
	BaseURL  *url.URL
	OrgName  string
	Contacts []string
	// RegistrationTTL and ResetTTL are shown as "works for 72 hours".
	RegistrationTTL time.Duration
	ResetTTL        time.Duration
}

func (s MailSite) link(path string) string { return s.BaseURL.String() + path }

// LinkEmailWorker mints a registration or reset link and emails it. Minting
// here, right before sending, keeps raw tokens out of the job table; a retry
// mints a fresh token, which voids the one a failed attempt made. A job run
// again after its email was accepted (a crash before River recorded the job
// done) finds it in Sent and mints nothing: a second link would void the
// one the person already has.
type LinkEmailWorker struct {
	river.WorkerDefaults[accounts.LinkEmail]
	Accounts *accounts.Service
	Mailer   Mailer
	Site     MailSite
	// Sent remembers accepted emails (nil: not remembered, tests only).
	Sent   SentMail
	Limits Limits
	Log    *slog.Logger
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *LinkEmailWorker) Timeout(*river.Job[accounts.LinkEmail]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *LinkEmailWorker) Work(ctx context.Context, job *river.Job[accounts.LinkEmail]) error {
	a := job.Args
	if _, sent, err := sentBefore(ctx, w.Sent, job.ID); err != nil || sent {
		if sent {
			w.Log.InfoContext(ctx, "link email already sent by an earlier attempt; no second link", "user_id", a.UserID, "purpose", a.Purpose, "attempt", job.Attempt)
		}
		return err
	}
	raw, u, err := w.Accounts.IssueLink(ctx, a.UserID, a.Purpose, a.Next)
	if errors.Is(err, accounts.ErrNotFound) {
		// The account moved on (registered, disabled) since the job was
		// queued: a link would be useless, so send nothing.
		w.Log.InfoContext(ctx, "link email skipped: account no longer eligible", "user_id", a.UserID, "purpose", a.Purpose)
		return nil
	}
	if err != nil {
		return err
	}
	v := mail.LinkView{
		OrgName:  w.Site.OrgName,
		Register: a.Purpose == accounts.PurposeRegister,
		HelpURL:  w.Site.link("/help"),
		Contacts: w.Site.Contacts,
	}
	if v.Register {
		v.URL, v.ExpiresIn = w.Site.link("/register/"+raw), layout.Duration(w.Site.RegistrationTTL)
	} else {
		v.URL, v.ExpiresIn = w.Site.link("/reset-password/"+raw), layout.Duration(w.Site.ResetTTL)
	}
	html, err := render(ctx, mail.LinkHTML(v))
	if err != nil {
		return err
	}
	err = w.Mailer.Send(ctx, delivery.Email{To: u.Email, Subject: v.Subject(), Text: v.Text(), HTML: html,
		Key:      mailKey(sentLink, job.ID, job.Attempt, true),
		Accepted: func() error { return markSent(ctx, w.Sent, w.Log, job.ID, sentLink) }})
	if err != nil {
		return err
	}
	w.Log.InfoContext(ctx, "link email sent", "user_id", u.ID, "purpose", a.Purpose, "attempt", job.Attempt)
	return nil
}

// PasswordChangedWorker sends the "your password was changed" notice, once.
type PasswordChangedWorker struct {
	river.WorkerDefaults[accounts.PasswordChangedEmail]
	Accounts *accounts.Service
	Mailer   Mailer
	Site     MailSite
	// Sent remembers accepted emails (nil: not remembered, tests only).
	Sent   SentMail
	Limits Limits
	Log    *slog.Logger
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *PasswordChangedWorker) Timeout(*river.Job[accounts.PasswordChangedEmail]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *PasswordChangedWorker) Work(ctx context.Context, job *river.Job[accounts.PasswordChangedEmail]) error {
	if _, sent, err := sentBefore(ctx, w.Sent, job.ID); err != nil || sent {
		if sent {
			w.Log.InfoContext(ctx, "password-changed notice already sent by an earlier attempt", "user_id", job.Args.UserID, "attempt", job.Attempt)
		}
		return err
	}
	u, err := w.Accounts.User(ctx, job.Args.UserID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	v := mail.PasswordChangedView{OrgName: w.Site.OrgName, ForgotURL: w.Site.link("/forgot-password"), HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
	html, err := render(ctx, mail.PasswordChangedHTML(v))
	if err != nil {
		return err
	}
	return w.Mailer.Send(ctx, delivery.Email{To: u.Email, Subject: v.Subject(), Text: v.Text(), HTML: html,
		Key:      mailKey(sentPasswordChanged, job.ID, job.Attempt, false),
		Accepted: func() error { return markSent(ctx, w.Sent, w.Log, job.ID, sentPasswordChanged) }})
}

func render(ctx context.Context, c templ.Component) (string, error) {
	var b bytes.Buffer
	if err := c.Render(ctx, &b); err != nil {
		return "", fmt.Errorf("jobs: render email: %w", err)
	}
	return b.String(), nil
}
