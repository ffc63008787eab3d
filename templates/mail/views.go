// Package mail renders the bodies of the portal's emails: HTML with templ and
// plain text beside it. Emails carry no PHI: the organisation's name, a link
// and whom to call, nothing about any message's subject or content.
package mail

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/text/language"

	"github.com/healthnet/secureportal/internal/i18n"
)

// Speech is the recipient's language, embedded in every email's view:
// English when unset. Render the HTML with Context.
type Speech struct {
	Lang language.Tag
}

// Context is ctx in the recipient's language.
func (s Speech) Context(ctx context.Context) context.Context { return i18n.With(ctx, s.Lang) }

// tr is i18n.Tf in the recipient's language.
func (s Speech) tr(format string, args ...any) string {
	return i18n.Tf(s.Context(context.Background()), format, args...)
}

// LinkView feeds an email that carries a registration or reset link.
type LinkView struct {
	Speech
	OrgName string
	// Register is true for a registration link, false for a password reset.
	Register  bool
	URL       string
	ExpiresIn string // "72 hours", "30 minutes"
	HelpURL   string
	Contacts  []string // "Provider Services – Los Angeles County: 1-855-464-3571"
}

// Subject is the email's subject line.
func (v LinkView) Subject() string {
	if v.Register {
		return v.tr("Complete your %s Secure Messaging registration", v.OrgName)
	}
	return v.tr("Reset your %s Secure Messaging password", v.OrgName)
}

// Lines are the body's sentences before the link's life.
func (v LinkView) Lines() []string {
	if v.Register {
		return []string{v.tr("%s uses Secure Messaging to send you protected health information.", v.OrgName),
			v.tr("To register, select the button and choose a password.")}
	}
	return []string{v.tr("Someone asked to reset the password of your %s Secure Messaging account.", v.OrgName),
		v.tr("To choose a new password, select the button. If you did not ask for this, ignore this email: your password stays as it is.")}
}

// Action is the button's label.
func (v LinkView) Action() string {
	if v.Register {
		return v.tr("Register now")
	}
	return v.tr("Choose a new password")
}

// Life says how long the link works.
func (v LinkView) Life() string {
	return v.tr("The link works once, for %s. If it has expired, the page lets you ask for a new one.", v.tr(v.ExpiresIn))
}

// Text is the plain-text body.
func (v LinkView) Text() string {
	var b strings.Builder
	if v.Register {
		fmt.Fprintf(&b, "%s\n\n", v.tr("%s uses Secure Messaging to send you protected health information.", v.OrgName))
		fmt.Fprintf(&b, "%s\n\n%s\n\n", v.tr("To register, open this link and choose a password:"), v.URL)
	} else {
		fmt.Fprintf(&b, "%s\n\n", v.tr("Someone asked to reset the password of your %s Secure Messaging account.", v.OrgName))
		fmt.Fprintf(&b, "%s\n\n%s\n\n", v.tr("To choose a new password, open this link:"), v.URL)
		fmt.Fprintf(&b, "%s\n\n", v.tr("If you did not ask for this, ignore this email: your password stays as it is."))
	}
	fmt.Fprintf(&b, "%s\n\n", v.Life())
	writeFooter(v.Context(context.Background()), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// PasswordChangedView feeds the notice sent after a password change.
type PasswordChangedView struct {
	Speech
	OrgName   string
	ForgotURL string
	HelpURL   string
	Contacts  []string
}

func (v PasswordChangedView) Subject() string {
	return v.tr("Your %s Secure Messaging password was changed", v.OrgName)
}

// What says what happened.
func (v PasswordChangedView) What() string {
	return v.tr("The password of your %s Secure Messaging account was just changed, and every signed-in session was signed out.", v.OrgName)
}

func (v PasswordChangedView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n\n", v.What(), v.tr("If this was you, there is nothing to do."),
		v.tr("If it was not, reset your password now at %s and call us.", v.ForgotURL))
	writeFooter(v.Context(context.Background()), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// SecurityNoticeView feeds the notice sent when a user's sign-in factors
// change. Change is an accounts.Change value.
type SecurityNoticeView struct {
	Speech
	OrgName    string
	Change     string
	AccountURL string
	ForgotURL  string
	HelpURL    string
	Contacts   []string
}

func (v SecurityNoticeView) Subject() string {
	return v.tr("Your %s Secure Messaging sign-in settings changed", v.OrgName)
}

// What says in one sentence what changed.
func (v SecurityNoticeView) What() string {
	if what, ok := securityChanges[v.Change]; ok {
		return v.tr(what)
	}
	return v.tr(securityChanges[""])
}

// securityChanges say each change of sign-in settings; "" is any other.
var securityChanges = map[string]string{
	"totp_enrolled":           "An authenticator app was set up for signing in to your account. From now on, signing in asks for a code from it.",
	"recovery_codes_replaced": "New recovery codes were made for your account. The old ones no longer work.",
	"recovery_code_used":      "One of your recovery codes was just used to sign in to your account, in place of a code from your authenticator app.",
	"second_factor_removed":   "The authenticator app and recovery codes of your account were turned off, and every signed-in session was signed out.",
	"passkey_added":           "A passkey was added to your account: it can now sign you in on the device that holds it.",
	"passkey_removed":         "A passkey was removed from your account: it no longer signs you in.",
	"second_factor_reset_by_admin": "An administrator removed the authenticator app, recovery codes and passkeys of your account (for example, after a lost phone), " +
		"and every signed-in session was signed out. If a second step is required, you will set up a new app at your next sign-in.",
	"": "The sign-in settings of your account changed.",
}

func (v SecurityNoticeView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n\n", v.What(), v.tr("If this was you, there is nothing to do. You can see your sign-in settings at %s.", v.AccountURL),
		v.tr("If it was not, reset your password now at %s and call us.", v.ForgotURL))
	writeFooter(v.Context(context.Background()), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// NotificationView feeds the "[SECURE] New secure message" email. It names
// the sender's organisation and carries a link; never a subject, body or
// file name.
type NotificationView struct {
	OrgName string
	URL     string
	// Register is true when the link first registers the recipient.
	Register  bool
	ExpiresIn string // registration links only
	// ToStaff is true for a representative being told a provider replied.
	ToStaff  bool
	HelpURL  string
	Contacts []string
	// Speech is the recipient's language (their profile's).
	Speech
}

// Subject keeps the "[SECURE]" mark in every language: it is what the
// plan's bulletin tells providers to look for.
func (v NotificationView) Subject() string {
	if v.ToStaff {
		return "[SECURE] New secure message from a provider"
	}
	return "[SECURE] " + i18n.Tf(v.Context(context.Background()), "New secure message from %s", v.OrgName)
}

func (v NotificationView) Text() string {
	ctx := v.Context(context.Background())
	var b strings.Builder
	if v.ToStaff {
		b.WriteString("A provider sent you a secure message in the portal.\n\n")
	} else {
		b.WriteString(i18n.Tf(ctx, "%s has sent you a secure message. For your protection it is kept in %s Secure Messaging, not in this email.", v.OrgName, v.OrgName) + "\n\n")
	}
	if v.Register {
		fmt.Fprintf(&b, "%s\n\n%s\n\n", i18n.T(ctx, "This is your first secure message: register to read it (choose a password, then the message opens):"), v.URL)
		b.WriteString(i18n.Tf(ctx, "The registration link works once, for %s. If it has expired, the page lets you ask for a new one.", i18n.T(ctx, v.ExpiresIn)) + "\n\n")
	} else {
		fmt.Fprintf(&b, "%s\n\n%s\n\n", i18n.T(ctx, "Sign in to read it:"), v.URL)
	}
	b.WriteString(i18n.T(ctx, "If your mail program removed the link, open the attached SecureMessage.html.") + "\n\n")
	writeFooter(ctx, &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

func notificationAction(ctx context.Context, register bool) string {
	if register {
		return i18n.T(ctx, "Register and read the message")
	}
	return i18n.T(ctx, "Read the message")
}

// DigestView feeds a provider's daily digest: how many messages wait,
// never what they are about.
type DigestView struct {
	Speech
	OrgName    string
	Count      int
	InboxURL   string
	AccountURL string // where the choice of emails is changed
	HelpURL    string
	Contacts   []string
}

// Subject keeps the "[SECURE]" mark in every language.
func (v DigestView) Subject() string {
	if v.Count == 1 {
		return "[SECURE] " + v.tr("1 new secure message from %s", v.OrgName)
	}
	return "[SECURE] " + v.tr("%d new secure messages from %s", v.Count, v.OrgName)
}

// Waiting says how many messages wait, in one sentence.
func (v DigestView) Waiting() string {
	if v.Count == 1 {
		return v.tr("1 new secure message waits for you in %s Secure Messaging.", v.OrgName)
	}
	return v.tr("%d new secure messages wait for you in %s Secure Messaging.", v.Count, v.OrgName)
}

func (v DigestView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s %s\n\n%s\n\n", v.Waiting(), v.tr("Sign in to read them:"), v.InboxURL,
		v.tr("You get one such email a day, as you chose. To get one for every message instead, change it at %s.", v.AccountURL))
	writeFooter(v.Context(context.Background()), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// PracticeInviteView feeds the email inviting a provider into a practice:
// who invited them to which practice, and where to answer (with a
// registration link when their account is new).
type PracticeInviteView struct {
	Speech
	OrgName, Practice, InvitedBy string
	// URL is the registration link (Register) or the practice page.
	URL       string
	Register  bool
	ExpiresIn string // the registration link's life, "72 hours"
	Until     string // the invitation's last day
	HelpURL   string
	Contacts  []string
}

func (v PracticeInviteView) Subject() string {
	return v.tr("You are invited to %s on %s Secure Messaging", v.Practice, v.OrgName)
}

// Lead is the invitation's first sentence.
func (v PracticeInviteView) Lead() string {
	return v.tr("%s invited you to join %s on %s Secure Messaging: you would read and answer the practice's secure messages with your own account.",
		v.InvitedBy, v.Practice, v.OrgName)
}

// Next says what to do, and until when.
func (v PracticeInviteView) Next() string {
	if v.Register {
		return v.tr("Register with the link below (it works once, for %s), then accept the invitation. The invitation waits until %s.", v.tr(v.ExpiresIn), v.Until)
	}
	return v.tr("Sign in and accept it on your practice page. The invitation waits until %s.", v.Until)
}

// Action is the button's label.
func (v PracticeInviteView) Action() string {
	if v.Register {
		return v.tr("Register now")
	}
	return v.tr("See the invitation")
}

// Unknown says what to do about an invitation from strangers.
func (v PracticeInviteView) Unknown() string {
	return v.tr("If you do not know the practice, ignore this email: nothing changes until you accept.")
}

func (v PracticeInviteView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n\n%s\n\n", v.Lead(), v.Next(), v.URL, v.Unknown())
	writeFooter(v.Context(context.Background()), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// writeFooter ends a plain-text email: whom to call, and the guide.
func writeFooter(ctx context.Context, b *strings.Builder, org, help string, contacts []string) {
	b.WriteString(i18n.Tf(ctx, "Questions? Contact the %s representative you work with", org))
	if len(contacts) > 0 {
		b.WriteString(i18n.T(ctx, ", or:") + "\n")
		for _, c := range contacts {
			fmt.Fprintf(b, "  %s\n", c)
		}
	} else {
		b.WriteString(".\n")
	}
	fmt.Fprintf(b, "\n%s: %s\n", i18n.T(ctx, "Secure Email Guide"), help)
}
