package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/audit"
)

// Passkey is a passkey of an account as stored. Record is the WebAuthn
// credential as package passkeys keeps it (a public key and a counter).
type Passkey struct {
	ID           int64
	Name         string
	CredentialID []byte
	Record       []byte
	CreatedAt    time.Time
	LastUsedAt   time.Time // zero before its first sign-in
}

// FactorPasskey is a sign-in with a passkey alone: something the user has
// (the authenticator) unlocked by something they are or know.
const FactorPasskey Factor = "passkey"

// Passkey changes reported by SecurityNotice.
const (
	ChangePasskeyAdded   Change = "passkey_added"
	ChangePasskeyRemoved Change = "passkey_removed"
)

// ErrPasskeyRequired: the password was right, the policy requires a second
// factor, and the account's is a passkey: sign in with it instead.
var ErrPasskeyRequired = errors.New("accounts: password accepted; sign in with a passkey")

// PasskeyStore is the passkey part of Store.
type PasskeyStore interface {
	// PasskeyHandle is userID's WebAuthn user handle, made on first use.
	PasskeyHandle(ctx context.Context, userID int64) ([]byte, error)
	// UserByPasskeyHandle finds the account of a handle (ErrNotFound).
	UserByPasskeyHandle(ctx context.Context, handle []byte) (User, error)
	Passkeys(ctx context.Context, userID int64) ([]Passkey, error)
	// AddPasskey stores p for userID with the audit event and jobs;
	// ErrPasskeyExists when the credential is registered already.
	AddPasskey(ctx context.Context, userID int64, p Passkey, ev audit.Event, jobs ...Job) error
	// PasskeyUsed stores a passkey's record after a sign-in (its counter).
	PasskeyUsed(ctx context.Context, credentialID, record []byte) error
	// RemovePasskey deletes userID's passkey id (ErrNotFound if none).
	RemovePasskey(ctx context.Context, userID, id int64, ev audit.Event, jobs ...Job) error
}

// ErrPasskeyExists: that passkey is registered already.
var ErrPasskeyExists = errors.New("accounts: that passkey is already registered")

// PasskeyAccount is what a passkey ceremony needs of u: the handle (made
// on first use, so only for a ceremony, which is a POST) and the passkeys
// u has.
func (s *Service) PasskeyAccount(ctx context.Context, u User) ([]byte, []Passkey, error) {
	h, err := s.store.PasskeyHandle(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: passkey handle: %w", err)
	}
	list, err := s.store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("accounts: passkeys: %w", err)
	}
	return h, list, nil
}

// Passkeys lists u's passkeys (a read: no handle is made).
func (s *Service) Passkeys(ctx context.Context, u User) ([]Passkey, error) {
	list, err := s.store.Passkeys(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("accounts: passkeys: %w", err)
	}
	return list, nil
}

// UserByPasskeyHandle is the account a passkey names, with its passkeys.
func (s *Service) UserByPasskeyHandle(ctx context.Context, handle []byte) (User, []Passkey, error) {
	u, err := s.store.UserByPasskeyHandle(ctx, handle)
	if err != nil {
		return User{}, nil, err
	}
	list, err := s.store.Passkeys(ctx, u.ID)
	return u, list, err
}

// AddPasskey keeps a passkey u just made, under name (so that they can
// tell their passkeys apart), audited and emailed.
func (s *Service) AddPasskey(ctx context.Context, u User, name string, credentialID, record []byte, ip string) error {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Passkey added " + s.now().Format("2 January 2006")
	}
	if m := nameProblem(name); m != "" {
		return FieldErrors{"name": strings.Replace(m, "your name", "the passkey's name", 1)}
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.PasskeyAdded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	err := s.store.AddPasskey(ctx, u.ID, Passkey{Name: name, CredentialID: credentialID, Record: record}, ev,
		SecurityNotice{UserID: u.ID, Change: ChangePasskeyAdded})
	if err != nil && !errors.Is(err, ErrPasskeyExists) {
		return fmt.Errorf("accounts: add passkey: %w", err)
	}
	return err
}

// RemovePasskey deletes u's passkey id once u has proven themselves again
// (the password, and the app's code when they have one), audited and
// emailed.
func (s *Service) RemovePasskey(ctx context.Context, u User, id int64, pw, code, ip string) error {
	if err := s.Reauthenticate(ctx, u, pw, code, ip); err != nil && !errors.Is(err, ErrEnrolmentRequired) && !errors.Is(err, ErrPasskeyRequired) {
		return err
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.PasskeyRemoved, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"passkey_id": id}}
	return s.store.RemovePasskey(ctx, u.ID, id, ev, SecurityNotice{UserID: u.ID, Change: ChangePasskeyRemoved})
}

// SignInWithPasskey signs in the account whose passkey the browser just
// proved (package passkeys checked it); record is the passkey's updated
// record. An account that may not sign in gets ErrInvalidCredentials, as
// at the password.
func (s *Service) SignInWithPasskey(ctx context.Context, u User, credentialID, record []byte, ip string) (User, error) {
	if u.Status != StatusActive || u.TemporarilyLocked(s.now()) {
		return User{}, s.failLogin(ctx, audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
			Detail: map[string]any{"reason": "passkey_account_" + string(u.Status)}})
	}
	if err := s.store.PasskeyUsed(ctx, credentialID, record); err != nil {
		return User{}, fmt.Errorf("accounts: passkey used: %w", err)
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"factor": string(FactorPasskey)}}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, "", ev); err != nil {
		return User{}, fmt.Errorf("accounts: record login: %w", err)
	}
	u.FailedLogins, u.LastLoginAt = 0, s.now()
	return u, nil
}

// PasskeyRefused records a passkey sign-in that was refused for u (a
// counter that went backwards: a possibly cloned authenticator).
func (s *Service) PasskeyRefused(ctx context.Context, u User, reason, ip string) error {
	s.log.WarnContext(ctx, "passkey sign-in refused", "user_id", u.ID, "reason", reason)
	return s.store.Record(ctx, audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"reason": reason}})
}
