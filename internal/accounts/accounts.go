// Package accounts is the doors of the portal: users and their roles,
// registration from an emailed link, sign-in with throttling and lockout,
// password resets, and the auth epoch that lets one change end every session.
package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/healthnet/secureportal/internal/audit"
)

// Role says what a user may see and do (DESIGN.md §2).
type Role string

const (
	RoleProvider Role = "provider"
	RoleStaff    Role = "staff"
	RoleAdmin    Role = "admin"
)

// ParseRole accepts exactly the stored role names; anything else (a forged
// form value) is an error.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleProvider, RoleStaff, RoleAdmin:
		return r, nil
	}
	return "", ErrInvalidRole
}

// Status is where an account is in its life.
type Status string

const (
	StatusPending  Status = "pending"  // created, not yet registered
	StatusActive   Status = "active"   // may sign in
	StatusLocked   Status = "locked"   // locked by an admin until unlocked
	StatusDisabled Status = "disabled" // switched off by an admin
)

// Purpose says what an emailed link is for.
type Purpose string

const (
	PurposeRegister Purpose = "register"
	PurposeReset    Purpose = "reset"
)

// User is an account as stored.
type User struct {
	ID           int64
	Email        string
	DisplayName  string
	Role         Role
	Status       Status
	PasswordHash string
	AuthEpoch    int64
	FailedLogins int
	LockedUntil  time.Time // zero when not temporarily locked
	CreatedAt    time.Time
	LastLoginAt  time.Time // zero before the first sign-in
	HasTOTP      bool      // an authenticator app is set up
	Passkeys     int       // how many passkeys the account has
}

// Profile is how a provider presents themselves to the plan (issue 15):
// their name (the account's display name), practice, phone and the
// language they prefer to read in.
type Profile struct {
	Name, Practice, Phone string
	Language              string // one of Languages
	// Notify is how they hear of new messages waiting in the portal:
	// NotifyEach (an email per message) or NotifyDaily (one digest a day).
	Notify string
	// Saved says the provider saved it (else these are the defaults): a
	// saved language is theirs, the defaults' is nobody's choice.
	Saved bool
}

// Notification choices of a profile.
const (
	NotifyEach  = "each"
	NotifyDaily = "daily"
)

// Languages are the languages a provider may prefer, by code, with their
// names in that language.
var Languages = []struct{ Code, Name string }{{"en", "English"}, {"es", "Español"}}

// HasSecondFactor reports whether u has anything beyond the password.
func (u User) HasSecondFactor() bool { return u.HasTOTP || u.Passkeys > 0 }

// TemporarilyLocked reports whether too many failed sign-ins locked the
// account at now.
func (u User) TemporarilyLocked(now time.Time) bool { return now.Before(u.LockedUntil) }

// Token is an emailed link's record; the raw token itself is never stored.
type Token struct {
	ID        int64
	UserID    int64
	Purpose   Purpose
	NextPath  string
	ExpiresAt time.Time
	UsedAt    time.Time // zero while unused
}

// Errors callers branch on.
var (
	ErrNotFound           = errors.New("accounts: not found")
	ErrInvalidCredentials = errors.New("accounts: invalid email or password")
	ErrTokenInvalid       = errors.New("accounts: link unknown, used, expired or replaced")
	ErrEmailTaken         = errors.New("accounts: an account with this email already exists")
	ErrInvalidRole        = errors.New("accounts: role must be provider, staff or admin")
	ErrSessionEnded       = errors.New("accounts: session no longer valid")
)

// Job is background work the store enqueues in the same transaction as the
// change that needs it (a River job's arguments: ids only, never PHI or tokens).
type Job interface{ Kind() string }

// LinkEmail asks the mail worker to mint a fresh link token for a user and
// email it. Minting happens in the worker, right before sending, so a raw
// token never sits in the job table; a retry mints a new one, voiding the old.
type LinkEmail struct {
	UserID  int64   `json:"user_id"`
	Purpose Purpose `json:"purpose"`
	// Next is where the user lands after using the link (a local path).
	Next string `json:"next,omitempty"`
}

func (LinkEmail) Kind() string { return "account_link_email" }

// PasswordChangedEmail tells a user their password was changed (no password
// in it), so a reset they did not ask for does not go unnoticed.
type PasswordChangedEmail struct {
	UserID int64 `json:"user_id"`
}

func (PasswordChangedEmail) Kind() string { return "password_changed_email" }

// UserFilter narrows the admin console's user list. Query matches the email
// or name (case-insensitive substring).
type UserFilter struct {
	Query  string
	Role   Role
	Status Status
	Limit  int
	Offset int
}

// NewUser is what creating an account needs.
type NewUser struct {
	Email        string
	DisplayName  string
	Role         Role
	PasswordHash string // empty: a pending account that must register
}

// Store is what accounts needs from the database. internal/postgres
// implements it; each method is one transaction, and the audit events and
// jobs passed in are written in that same transaction.
type Store interface {
	MFAStore
	PasskeyStore
	// Profile is a user's profile (the defaults when none was saved);
	// UpdateProfile saves it and the display name, with ev, in one
	// transaction.
	Profile(ctx context.Context, userID int64) (Profile, error)
	UpdateProfile(ctx context.Context, userID int64, p Profile, ev audit.Event) error
	UserByEmail(ctx context.Context, email string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	// CreateUser inserts the account (ErrEmailTaken if the email exists),
	// the audit event with the new id as its target, and the jobs that
	// jobs returns for the new user, all in one transaction.
	CreateUser(ctx context.Context, u NewUser, ev audit.Event, jobs func(User) []Job) (User, error)
	// RecordLoginFailure counts a failed sign-in; when the count reaches
	// threshold it locks the account until lockUntil and reports locked.
	RecordLoginFailure(ctx context.Context, userID int64, threshold int, lockUntil time.Time, ev audit.Event) (locked bool, err error)
	// RecordLoginSuccess clears the failure count and stamps the sign-in;
	// a non-empty newHash replaces the password hash (parameter upgrade).
	RecordLoginSuccess(ctx context.Context, userID int64, newHash string, ev audit.Event) error
	// Rehash replaces the password hash with one of the same password
	// under newer parameters.
	Rehash(ctx context.Context, userID int64, newHash string) error
	// InsertToken stores a link token's hash and voids the user's older
	// unused tokens of the same purpose (newest only).
	InsertToken(ctx context.Context, t Token, sha256 []byte) error
	// TokenByHash finds a token that is unused and unexpired at now.
	TokenByHash(ctx context.Context, sha256 []byte, now time.Time) (Token, error)
	// TokenByHashAnyState finds a token whatever its state (for "send me a new link").
	TokenByHashAnyState(ctx context.Context, sha256 []byte) (Token, error)
	// CompleteRegistration consumes the token and activates the account.
	CompleteRegistration(ctx context.Context, tokenID, userID int64, name, hash string, now time.Time, ev audit.Event) (User, error)
	// CompleteReset consumes the token, sets the password, clears any
	// lockout and bumps the auth epoch (ending every session).
	CompleteReset(ctx context.Context, tokenID, userID int64, hash string, now time.Time, ev audit.Event, jobs ...Job) (User, error)
	// ChangePassword sets the password of an active account, clears its
	// failure count and bumps the auth epoch (ending every session).
	ChangePassword(ctx context.Context, userID int64, hash string, now time.Time, ev audit.Event, jobs ...Job) (User, error)
	// Administer applies an admin action (see AdminAction) in one
	// transaction with its audit event and jobs; ErrNotFound when the
	// account is no longer in a state the action applies to, ErrLastAdmin
	// when it would leave no active admin.
	Administer(ctx context.Context, userID int64, action AdminAction, ev audit.Event, jobs ...Job) (User, error)
	SearchUsers(ctx context.Context, f UserFilter) ([]User, error)
	// ChangeRole sets a user's role and bumps their auth epoch: a privilege
	// change ends their sessions, so the next sign-in carries the new role.
	// ErrLastAdmin when it would demote the last active admin.
	ChangeRole(ctx context.Context, userID int64, role Role, ev audit.Event) (User, error)
	// Record writes audit events and enqueues jobs with no other change.
	Record(ctx context.Context, ev audit.Event, jobs ...Job) error
	// SignInHistory reads the account's sign-ins from the audit log.
	SignInHistory(ctx context.Context, userID int64) (SignInHistory, error)
}

// SignInHistory is what users see of their own sign-ins, so that they can
// notice someone else's (HIPAA 164.308(a)(5)(ii)(C), log-in monitoring).
type SignInHistory struct {
	// Previous is the sign-in before the current one (zero if none) and
	// PreviousIP where it came from.
	Previous   time.Time
	PreviousIP string
	// FailedSince counts failed attempts on the account's password since
	// the previous sign-in (since the account began, when there is none).
	FailedSince int
	// Recent are the latest sign-ins, newest first, with how each was proven.
	Recent []SignIn
}

// SignIn is one successful sign-in.
type SignIn struct {
	At     time.Time
	IP     string
	Factor Factor
}
