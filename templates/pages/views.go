// Package pages renders whole screens. Each page takes a view-model struct
// defined here: plain, already-formatted data with no I/O behind it.
package pages

import "github.com/healthnet/secureportal/templates/layout"

// ErrorView is what a user sees when a request fails: a plain explanation and
// the request id to quote to support. Never the internal cause.
type ErrorView struct {
	Chrome    layout.Chrome
	Status    int
	Title     string
	Message   string
	RequestID string
}

// HelpView feeds the Secure Email Guide.
type HelpView struct {
	Chrome  layout.Chrome
	OrgName string
	// Contacts repeats the organisation's contacts in the body, where the
	// guide says whom to call.
	Contacts []layout.Contact
	// ResetLinkValid is how long an emailed reset link works, in words
	// ("30 minutes"), from PORTAL_RESET_TTL.
	ResetLinkValid string
	// TLSFirst says whether messages go straight to providers' inboxes when
	// their servers take verified TLS (PORTAL_DELIVERY_MODE=tls-first).
	TLSFirst bool
}

// HomeView feeds the landing page of a signed-out visitor.
type HomeView struct {
	Chrome  layout.Chrome
	OrgName string
}

// LoginView feeds the sign-in page.
type LoginView struct {
	Chrome layout.Chrome
	Email  Field
	Pass   Field
	Next   string
	// Notice explains why the user is here (signed out after inactivity,
	// password changed...). Failure is the uniform "not right" message.
	Notice  string
	Failure string
	// Passkeys offers "Sign in with a passkey" (and the email field's
	// autofill of passkeys).
	Passkeys bool
}

// RegisterView feeds first-time registration.
type RegisterView struct {
	Chrome  layout.Chrome
	Action  string // the form's own URL (it carries the token)
	OrgName string
	Email   string
	Name    Field
	Pass    Field
	Confirm Field
}

// LinkProblemView explains an expired, used or unknown emailed link and
// offers a way on.
type LinkProblemView struct {
	Chrome   layout.Chrome
	Register bool
	// ResendAction is where "send me a new link" posts (registration only).
	ResendAction string
	Sent         bool
}

// ForgotView feeds the forgot-password page.
type ForgotView struct {
	Chrome layout.Chrome
	Email  Field
	Sent   bool
	TTL    string
}

// ResetView feeds the choose-a-new-password page.
type ResetView struct {
	Chrome  layout.Chrome
	Action  string
	Email   string
	Pass    Field
	Confirm Field
}

// AccountView shows a signed-in user their own account.
type AccountView struct {
	Chrome    layout.Chrome
	Email     string
	Name      string
	Role      string
	LastLogin string
	// PreviousLogin is the sign-in before this one, with where it came from.
	PreviousLogin string
	// FailedAttempts warns of failed sign-ins since the previous one ("" when none).
	FailedAttempts string
	// Notice confirms what the user just did (e.g. changed the password).
	Notice  string
	Factors AccountFactors
	// Away, for staff, is their out of office in words ("" for others).
	Away string
	// Profile, for providers, is their practice, phone and language.
	Profile *ProfileView
}

// ProfileView is a provider's profile as the account page shows it.
type ProfileView struct {
	Practice, Phone, Language string
	Notify                    string // in words
}

// ProfileFormView feeds the provider's profile form.
type ProfileFormView struct {
	Chrome                          layout.Chrome
	Name, Practice, Phone, Language Field
	Languages                       []Option
	// Notify is the choice of notification (radio buttons, field notify).
	Notify      Field
	NotifyDaily bool
}

// AwayView feeds a representative's out-of-office page.
type AwayView struct {
	Chrome      layout.Chrome
	State       string // the out of office now, in words
	Set         bool   // one is set: offer to clear it
	From, Until Field
}

// ChangePasswordView feeds the signed-in change-password page.
type ChangePasswordView struct {
	Chrome  layout.Chrome
	Email   string
	Current Field
	Pass    Field
	Confirm Field
}

// orDash is s, or a dash when it is empty.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
