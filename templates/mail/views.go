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

// LinkView feeds an email that carries a registration or reset link.
type LinkView struct {
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
		return "Complete your " + v.OrgName + " Secure Messaging registration"
	}
	return "Reset your " + v.OrgName + " Secure Messaging password"
}

// Text is the plain-text body.
func (v LinkView) Text() string {
	var b strings.Builder
	if v.Register {
		fmt.Fprintf(&b, "%s uses Secure Messaging to send you protected health information.\n\n", v.OrgName)
		fmt.Fprintf(&b, "To register, open this link and choose a password:\n\n%s\n\n", v.URL)
	} else {
		fmt.Fprintf(&b, "Someone asked to reset the password of your %s Secure Messaging account.\n\n", v.OrgName)
		fmt.Fprintf(&b, "To choose a new password, open this link:\n\n%s\n\n", v.URL)
		b.WriteString("If you did not ask for this, ignore this email: your password stays as it is.\n\n")
	}
	fmt.Fprintf(&b, "The link works once, for %s. If it has expired, the page lets you ask for a new one.\n\n", v.ExpiresIn)
	writeFooter(context.Background(), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// PasswordChangedView feeds the notice sent after a password change.
type PasswordChangedView struct {
	OrgName   string
	ForgotURL string
	HelpURL   string
	Contacts  []string
}

func (v PasswordChangedView) Subject() string {
	return "Your " + v.OrgName + " Secure Messaging password was changed"
}

func (v PasswordChangedView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "The password of your %s Secure Messaging account was just changed, and every signed-in session was signed out.\n\n", v.OrgName)
	fmt.Fprintf(&b, "If this was you, there is nothing to do.\n\nIf it was not, reset your password now at %s and call us.\n\n", v.ForgotURL)
	writeFooter(context.Background(), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// SecurityNoticeView feeds the notice sent when a user's sign-in factors
// change. Change is an accounts.Change value.
type SecurityNoticeView struct {
	OrgName    string
	Change     string
	AccountURL string
	ForgotURL  string
	HelpURL    string
	Contacts   []string
}

func (v SecurityNoticeView) Subject() string {
	return "Your " + v.OrgName + " Secure Messaging sign-in settings changed"
}

// What says in one sentence what changed.
func (v SecurityNoticeView) What() string {
	switch v.Change {
	case "totp_enrolled":
		return "An authenticator app was set up for signing in to your account. From now on, signing in asks for a code from it."
	case "recovery_codes_replaced":
		return "New recovery codes were made for your account. The old ones no longer work."
	case "recovery_code_used":
		return "One of your recovery codes was just used to sign in to your account, in place of a code from your authenticator app."
	case "second_factor_removed":
		return "The authenticator app and recovery codes of your account were turned off, and every signed-in session was signed out."
	case "passkey_added":
		return "A passkey was added to your account: it can now sign you in on the device that holds it."
	case "passkey_removed":
		return "A passkey was removed from your account: it no longer signs you in."
	case "second_factor_reset_by_admin":
		return "An administrator removed the authenticator app, recovery codes and passkeys of your account (for example, after a lost phone), and every signed-in session was signed out. If a second step is required, you will set up a new app at your next sign-in."
	}
	return "The sign-in settings of your account changed."
}

func (v SecurityNoticeView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", v.What())
	fmt.Fprintf(&b, "If this was you, there is nothing to do. You can see your sign-in settings at %s.\n\n", v.AccountURL)
	fmt.Fprintf(&b, "If it was not, reset your password now at %s and call us.\n\n", v.ForgotURL)
	writeFooter(context.Background(), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

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
	// Lang is the recipient's language (their profile's); English when
	// unset. Render the HTML with Context.
	Lang language.Tag
}

// Context is ctx in the recipient's language, for rendering the HTML.
func (v NotificationView) Context(ctx context.Context) context.Context { return i18n.With(ctx, v.Lang) }

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
	OrgName    string
	Count      int
	InboxURL   string
	AccountURL string // where the choice of emails is changed
	HelpURL    string
	Contacts   []string
}

func (v DigestView) Subject() string {
	if v.Count == 1 {
		return "[SECURE] 1 new secure message from " + v.OrgName
	}
	return fmt.Sprintf("[SECURE] %d new secure messages from %s", v.Count, v.OrgName)
}

// Waiting says how many messages wait, in one sentence.
func (v DigestView) Waiting() string {
	if v.Count == 1 {
		return "1 new secure message waits for you in " + v.OrgName + " Secure Messaging."
	}
	return fmt.Sprintf("%d new secure messages wait for you in %s Secure Messaging.", v.Count, v.OrgName)
}

func (v DigestView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nSign in to read them: %s\n\n", v.Waiting(), v.InboxURL)
	fmt.Fprintf(&b, "You get one such email a day, as you chose. To get one for every message instead, change it at %s.\n\n", v.AccountURL)
	writeFooter(context.Background(), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}

// PracticeInviteView feeds the email inviting a provider into a practice:
// who invited them to which practice, and where to answer (with a
// registration link when their account is new).
type PracticeInviteView struct {
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
	return "You are invited to " + v.Practice + " on " + v.OrgName + " Secure Messaging"
}

// Lead is the invitation's first sentence.
func (v PracticeInviteView) Lead() string {
	return fmt.Sprintf("%s invited you to join %s on %s Secure Messaging: you would read and answer the practice's secure messages with your own account.",
		v.InvitedBy, v.Practice, v.OrgName)
}

// Next says what to do, and until when.
func (v PracticeInviteView) Next() string {
	if v.Register {
		return fmt.Sprintf("Register with the link below (it works once, for %s), then accept the invitation. The invitation waits until %s.", v.ExpiresIn, v.Until)
	}
	return fmt.Sprintf("Sign in and accept it on your practice page. The invitation waits until %s.", v.Until)
}

func (v PracticeInviteView) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n%s\n\n", v.Lead(), v.Next(), v.URL)
	b.WriteString("If you do not know the practice, ignore this email: nothing changes until you accept.\n\n")
	writeFooter(context.Background(), &b, v.OrgName, v.HelpURL, v.Contacts)
	return b.String()
}
