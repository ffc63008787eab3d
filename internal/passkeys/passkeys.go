// Package passkeys is the portal's side of WebAuthn (github.com/go-webauthn/
// webauthn): adding a passkey to an account, and signing in with a passkey
// alone. A passkey is a discoverable credential that verifies its user (a
// fingerprint, a face, a device PIN), so one sign-in with it proves two
// factors and cannot be phished: the browser only uses it on the portal's
// own origin.
//
// The package holds no state. Each ceremony is begun and finished with
// opaque bytes the caller keeps between the two requests (in the session)
// and stores (a credential record, as JSON: it holds a public key, flags
// and the sign counter, nothing secret).
package passkeys

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Errors callers branch on.
var (
	// ErrUnavailable: WebAuthn needs the portal reached by a domain name
	// (PORTAL_BASE_URL); an IP address cannot be a relying party.
	ErrUnavailable = errors.New("passkeys: the portal's address is not a domain name")
	// ErrRefused: the browser's answer did not prove the ceremony (wrong
	// origin, expired challenge, bad signature, unknown credential).
	ErrRefused = errors.New("passkeys: the passkey's answer was refused")
	// ErrCloned: the authenticator's signature counter went backwards, a
	// sign that the passkey was copied; the sign-in is refused.
	ErrCloned = errors.New("passkeys: signature counter went backwards (possible cloned authenticator)")
)

// ceremonyTimeout is how long a begun ceremony may take.
const ceremonyTimeout = 5 * time.Minute

// Relier is the relying party: the portal at PORTAL_BASE_URL.
type Relier struct {
	wa *webauthn.WebAuthn
}

// New makes the relying party for the portal at base, named name in the
// browser's passkey prompts. ErrUnavailable when base's host is an IP
// address.
func New(base *url.URL, name string) (*Relier, error) {
	wa, err := webauthn.New(&webauthn.Config{
		RPID:                  base.Hostname(),
		RPDisplayName:         name,
		RPOrigins:             []string{base.Scheme + "://" + base.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: ceremonyTimeout, TimeoutUVD: ceremonyTimeout},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return &Relier{wa: wa}, nil
}

// Account is a user as the ceremonies see them: a random handle (never the
// email, which the authenticator would keep), names for the prompts, and
// the records of their passkeys.
type Account struct {
	Handle      []byte
	Email, Name string
	Records     [][]byte
}

// user adapts an Account to go-webauthn.
type user struct {
	a     Account
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.a.Handle }
func (u user) WebAuthnName() string                       { return u.a.Email }
func (u user) WebAuthnDisplayName() string                { return u.a.Name }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func load(a Account) (user, error) {
	u := user{a: a}
	for _, rec := range a.Records {
		var c webauthn.Credential
		if err := json.Unmarshal(rec, &c); err != nil {
			return u, fmt.Errorf("passkeys: stored credential: %w", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// BeginRegistration starts adding a passkey to a: the options for the
// browser (JSON), and the session to keep until FinishRegistration.
// Passkeys a already has are excluded, so one authenticator is not added
// twice.
func (r *Relier) BeginRegistration(a Account) (options, session []byte, err error) {
	u, err := load(a)
	if err != nil {
		return nil, nil, err
	}
	creation, sd, err := r.wa.BeginRegistration(u, webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()))
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: begin registration: %w", err)
	}
	return marshalBoth(creation, sd)
}

// FinishRegistration checks the browser's answer (body) against the
// session and returns the new passkey's credential id and record.
func (r *Relier) FinishRegistration(a Account, session, body []byte) (credentialID, record []byte, err error) {
	sd, err := sessionData(session)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(sd.UserID, a.Handle) {
		return nil, nil, fmt.Errorf("%w: registration begun for another account", ErrRefused)
	}
	u, err := load(a)
	if err != nil {
		return nil, nil, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(body)
	if err != nil {
		return nil, nil, refused(err)
	}
	cred, err := r.wa.CreateCredential(u, sd, parsed)
	if err != nil {
		return nil, nil, refused(err)
	}
	record, err = json.Marshal(cred)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: record: %w", err)
	}
	return cred.ID, record, nil
}

// BeginLogin starts a sign-in with any passkey of the portal's (the
// browser asks which); conditional is the kind the browser offers in the
// email field's autofill.
func (r *Relier) BeginLogin(conditional bool) (options, session []byte, err error) {
	m := protocol.MediationDefault
	if conditional {
		m = protocol.MediationConditional
	}
	assertion, sd, err := r.wa.BeginDiscoverableMediatedLogin(m)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: begin login: %w", err)
	}
	return marshalBoth(assertion, sd)
}

// FinishLogin checks the browser's answer (body) against the session.
// lookup finds the account of a user handle (an error when there is none).
// It returns the handle and the passkey's updated record (new sign
// counter), which the caller stores.
func (r *Relier) FinishLogin(session, body []byte, lookup func(handle []byte) (Account, error)) (handle, credentialID, record []byte, err error) {
	sd, err := sessionData(session)
	if err != nil {
		return nil, nil, nil, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
	if err != nil {
		return nil, nil, nil, refused(err)
	}
	found, cred, err := r.wa.ValidatePasskeyLogin(func(_, h []byte) (webauthn.User, error) {
		a, err := lookup(h)
		if err != nil {
			return nil, err
		}
		return load(a)
	}, sd, parsed)
	if err != nil {
		return nil, nil, nil, refused(err)
	}
	if cred.Authenticator.CloneWarning {
		return found.WebAuthnID(), cred.ID, nil, ErrCloned
	}
	record, err = json.Marshal(cred)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("passkeys: record: %w", err)
	}
	return found.WebAuthnID(), cred.ID, record, nil
}

func marshalBoth(options any, sd *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: options: %w", err)
	}
	s, err := json.Marshal(sd)
	if err != nil {
		return nil, nil, fmt.Errorf("passkeys: session: %w", err)
	}
	return o, s, nil
}

func sessionData(b []byte) (webauthn.SessionData, error) {
	var sd webauthn.SessionData
	if len(b) == 0 || json.Unmarshal(b, &sd) != nil {
		return sd, fmt.Errorf("%w: no ceremony in progress", ErrRefused)
	}
	return sd, nil
}

// refused wraps a go-webauthn error: its developer detail goes to the log
// through the error text, never to the user.
func refused(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return fmt.Errorf("%w: %s: %s (%s)", ErrRefused, pe.Type, pe.Details, pe.DevInfo)
	}
	return fmt.Errorf("%w: %v", ErrRefused, err)
}
