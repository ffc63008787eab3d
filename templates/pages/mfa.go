package pages

import "github.com/healthnet/secureportal/templates/layout"

// SecondFactorView is the second step of signing in.
type SecondFactorView struct {
	Chrome layout.Chrome
	Code   Field
	// Recovery shows the recovery-code form instead of the app-code one.
	Recovery bool
}

// TOTPSetupView is setting up an authenticator app.
type TOTPSetupView struct {
	Chrome layout.Chrome
	// AtSignIn: the policy requires a second factor and the user is half
	// way through signing in; otherwise they are signed in and chose to.
	AtSignIn bool
	// Replaces: the user has an app already, which this one will replace.
	Replaces bool
	OrgName  string
	Email    string
	// Secret is the key as text (base32, in groups of four) for typing in;
	// Key is the same key as the form posts it back (nothing is stored
	// until a code from the app confirms it).
	Secret string
	Key    string
	// QR draws the otpauth:// URL as a QR code.
	QR   QRCode
	Code Field
}

// QRCode is a QR code drawn as one SVG path over a Size×Size grid of
// modules (the quiet zone included).
type QRCode struct {
	Path string
	Size int
}

// RecoveryCodesView shows new recovery codes, once.
type RecoveryCodesView struct {
	Chrome   layout.Chrome
	Codes    []string
	Continue string // where the user goes next
	// Notice says what just happened (an app set up, new codes made).
	Notice string
}

// CodeConfirmView asks for a current app code before a change to the
// second factor (new recovery codes, turning it off).
type CodeConfirmView struct {
	Chrome layout.Chrome
	Title  string
	Intro  string
	Action string
	Button string
	Code   Field
	// Danger styles the button as a destructive action.
	Danger bool
}

// SignInRow is one recent sign-in on the account page.
type SignInRow struct {
	When, IP, Factor string
}

// AccountFactors is the second-factor part of the account page.
type AccountFactors struct {
	Offered bool // the policy lets this user have one
	// TOTPSince is when the app was set up ("" when none).
	TOTPSince     string
	RecoveryCodes int
	Required      bool
	Recent        []SignInRow
	// PasskeysOffered is false when the portal cannot offer passkeys (its
	// address is not a domain name); Passkeys is how many the user has.
	PasskeysOffered bool
	Passkeys        int
}

// PasskeysView is the account's passkeys, and adding one.
type PasskeysView struct {
	Chrome   layout.Chrome
	Notice   string
	Passkeys []PasskeyRow
	// Name names the passkey about to be added.
	Name Field
}

// PasskeyRow is one passkey in the list.
type PasskeyRow struct {
	Name, Added, LastUsed, RemoveURL string
}

// RemovePasskeyView confirms removing a passkey with the password (and the
// app's code, when the user has one).
type RemovePasskeyView struct {
	Chrome  layout.Chrome
	Name    string
	Action  string
	Pass    Field
	Code    *Field
	Failure string
}
