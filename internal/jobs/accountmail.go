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
	"github.com/riverqueue/river/rivertype"
	"golang.org/x/text/language"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/i18n"
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

// AccountMail is what every account email worker needs.
type AccountMail struct {
	Accounts *accounts.Service
	Mailer   Mailer
	Site     MailSite
	// Sent remembers accepted emails (nil: not remembered, tests only).
	Sent   SentMail
	Limits Limits
	Log    *slog.Logger
}

// notice sends an account notice of kind (no link token, no PHI) to a
// user once.
func (m AccountMail) notice(kind string) notice {
	return notice{accounts: m.Accounts, mailer: m.Mailer, sent: m.Sent, log: m.Log, kind: kind}
}

// LinkEmailWorker mints a registration or reset link and emails it. Minting
// here, right before sending, keeps raw tokens out of the job table; a retry
// mints a fresh token, which voids the one a failed attempt made. A job run
// again after its email was accepted (a crash before River recorded the job
// done) finds it in Sent and mints nothing: a second link would void the
// one the person already has.
type LinkEmailWorker struct {
	river.WorkerDefaults[accounts.LinkEmail]
	AccountMail
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
	lang, err := languageOf(ctx, w.Accounts, u)
	if err != nil {
		return err
	}
	v := mail.LinkView{
		Speech:   mail.Speech{Lang: lang},
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
	html, err := render(v.Context(ctx), mail.LinkHTML(v))
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
	AccountMail
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *PasswordChangedWorker) Timeout(*river.Job[accounts.PasswordChangedEmail]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *PasswordChangedWorker) Work(ctx context.Context, job *river.Job[accounts.PasswordChangedEmail]) error {
	return w.notice(sentPasswordChanged).send(ctx, job.JobRow, job.Args.UserID, func(sp mail.Speech) (string, string, templ.Component) {
		v := mail.PasswordChangedView{Speech: sp, OrgName: w.Site.OrgName, ForgotURL: w.Site.link("/forgot-password"), HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
		return v.Subject(), v.Text(), mail.PasswordChangedHTML(v)
	})
}

// SecurityNoticeWorker tells a user that their sign-in factors changed
// (an authenticator app set up or removed, recovery codes used or
// replaced), once.
type SecurityNoticeWorker struct {
	river.WorkerDefaults[accounts.SecurityNotice]
	AccountMail
}

// Timeout is the job's time limit, shorter than River's rescue delay.
func (w *SecurityNoticeWorker) Timeout(*river.Job[accounts.SecurityNotice]) time.Duration {
	return w.Limits.orDefault().Mail
}

func (w *SecurityNoticeWorker) Work(ctx context.Context, job *river.Job[accounts.SecurityNotice]) error {
	return w.notice(sentSecurityNotice).send(ctx, job.JobRow, job.Args.UserID, func(sp mail.Speech) (string, string, templ.Component) {
		v := mail.SecurityNoticeView{Speech: sp, OrgName: w.Site.OrgName, Change: string(job.Args.Change), AccountURL: w.Site.link("/account"),
			ForgotURL: w.Site.link("/forgot-password"), HelpURL: w.Site.link("/help"), Contacts: w.Site.Contacts}
		return v.Subject(), v.Text(), mail.SecurityNoticeHTML(v)
	})
}

// notice sends an account notice (no link token, no PHI) to a user once:
// an attempt after one whose email was accepted sends nothing.
type notice struct {
	accounts *accounts.Service
	mailer   Mailer
	sent     SentMail
	log      *slog.Logger
	kind     string // mail_sent.kind
}

// compose writes an email in the recipient's language: its subject, text
// and HTML body.
type compose func(mail.Speech) (subject, text string, body templ.Component)

func (n notice) send(ctx context.Context, job *rivertype.JobRow, userID int64, write compose) error {
	if _, sent, err := sentBefore(ctx, n.sent, job.ID); err != nil || sent {
		if sent {
			n.log.InfoContext(ctx, "notice already sent by an earlier attempt", "kind", n.kind, "user_id", userID, "attempt", job.Attempt)
		}
		return err
	}
	u, err := n.accounts.User(ctx, userID)
	if errors.Is(err, accounts.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	lang, err := languageOf(ctx, n.accounts, u)
	if err != nil {
		return err
	}
	sp := mail.Speech{Lang: lang}
	subject, text, body := write(sp)
	html, err := render(sp.Context(ctx), body)
	if err != nil {
		return err
	}
	return n.mailer.Send(ctx, delivery.Email{To: u.Email, Subject: subject, Text: text, HTML: html,
		Key:      mailKey(n.kind, job.ID, job.Attempt, false),
		Accepted: func() error { return markSent(ctx, n.sent, n.log, job.ID, n.kind) }})
}

// languageOf is the language u reads email in: their profile's for a
// provider, English for the plan's staff.
func languageOf(ctx context.Context, accts *accounts.Service, u accounts.User) (language.Tag, error) {
	if u.Role != accounts.RoleProvider {
		return language.English, nil
	}
	p, err := accts.Profile(ctx, u)
	if err != nil {
		return language.Und, err
	}
	tag, _ := i18n.Parse(p.Language)
	return tag, nil
}

func render(ctx context.Context, c templ.Component) (string, error) {
	var b bytes.Buffer
	if err := c.Render(ctx, &b); err != nil {
		return "", fmt.Errorf("jobs: render email: %w", err)
	}
	return b.String(), nil
}
