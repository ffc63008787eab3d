package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/password"
)

// Settings are the account rules from configuration.
type Settings struct {
	OrgName          string
	RegistrationTTL  time.Duration
	ResetTTL         time.Duration
	LockoutThreshold int
	LockoutDuration  time.Duration
	MFA              MFAPolicy
}

// Service carries out account operations over a Store.
type Service struct {
	store  Store
	hasher *password.Hasher
	set    Settings
	log    *slog.Logger
	now    func() time.Time
}

// New builds a Service. now may be nil (time.Now); tests pass a clock.
func New(store Store, hasher *password.Hasher, set Settings, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, hasher: hasher, set: set, log: log, now: now}
}

// FieldErrors are problems the user can fix, keyed by form field name, with
// a message to show beside the field. Nothing was changed. They are for the
// input a rule here checks (an empty reason, a weak password); a condition
// of the stored state (a taken email, the last admin) is a sentinel error
// instead, and the caller puts it into words (web/errortext.go).
type FieldErrors map[string]string

func (f FieldErrors) Error() string { return "accounts: invalid input" }

// Login checks an email and password. When the account needs a second
// factor, a right password returns the user with ErrSecondFactorRequired or
// ErrEnrolmentRequired and signs nobody in yet. Unknown user, wrong password, pending,
// locked and disabled accounts all return ErrInvalidCredentials after the same
// work (one argon2id verification), so neither the answer nor its timing
// tells an attacker which accounts exist (DESIGN.md §6).
func (s *Service) Login(ctx context.Context, rawEmail, pw, ip string) (User, error) {
	email, msg := NormalizeEmail(rawEmail)
	errs := FieldErrors{}
	if msg != "" {
		errs["email"] = msg
	}
	if pw == "" {
		errs["password"] = "Enter your password."
	}
	if len(errs) > 0 {
		return User{}, errs
	}
	fail := audit.Event{Action: audit.LoginFailed, TargetType: "user", IP: ip}

	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) || (err == nil && u.PasswordHash == "") {
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return User{}, fmt.Errorf("accounts: login: %w", err)
		}
		fail.Detail = map[string]any{"reason": "unknown_or_unregistered", "email": email}
		if err == nil {
			fail.TargetID = fmt.Sprint(u.ID)
		}
		return User{}, s.failLogin(ctx, fail)
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: login: %w", err)
	}
	fail.TargetID = fmt.Sprint(u.ID)

	ok, rehash, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("accounts: login user %d: %w", u.ID, err)
	}
	now := s.now()
	switch {
	case u.Status != StatusActive:
		fail.Detail = map[string]any{"reason": "status_" + string(u.Status)}
		return User{}, s.failLogin(ctx, fail)
	case u.TemporarilyLocked(now):
		fail.Detail = map[string]any{"reason": "temporarily_locked"}
		return User{}, s.failLogin(ctx, fail)
	case !ok:
		fail.Detail = map[string]any{"reason": "wrong_password", "consecutive_failures": u.FailedLogins + 1}
		locked, err := s.store.RecordLoginFailure(ctx, u.ID, s.set.LockoutThreshold, now.Add(s.set.LockoutDuration), fail)
		if err != nil {
			return User{}, fmt.Errorf("accounts: record failure: %w", err)
		}
		if locked {
			s.log.WarnContext(ctx, "account locked after failed sign-ins", "user_id", u.ID, "until", now.Add(s.set.LockoutDuration))
		}
		return User{}, ErrInvalidCredentials
	}

	var newHash string
	if rehash {
		// Parameters were raised since this hash was made: upgrade it now,
		// while we hold the plaintext.
		if newHash, err = s.hasher.Hash(ctx, pw); err != nil {
			return User{}, fmt.Errorf("accounts: rehash: %w", err)
		}
	}
	if step := s.secondStep(u); step != nil {
		// Not signed in yet: the sign-in is recorded once the second
		// factor is given (CompleteSignIn), and the failure count stays
		// until then, so wrong codes add to it.
		if newHash != "" {
			if err := s.store.Rehash(ctx, u.ID, newHash); err != nil {
				return User{}, fmt.Errorf("accounts: rehash: %w", err)
			}
		}
		return u, step
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"factor": string(FactorPassword)}}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, newHash, ev); err != nil {
		return User{}, fmt.Errorf("accounts: record login: %w", err)
	}
	u.FailedLogins, u.LastLoginAt = 0, now
	return u, nil
}

func (s *Service) failLogin(ctx context.Context, ev audit.Event) error {
	if err := s.store.Record(ctx, ev); err != nil {
		return fmt.Errorf("accounts: audit failed login: %w", err)
	}
	return ErrInvalidCredentials
}

// SessionUser returns the signed-in user if the session is still valid: the
// account is active and its auth epoch is the one the session was made in.
// The user is the one the session store read with the session, if it did
// (WithSessionUser), else read now.
func (s *Service) SessionUser(ctx context.Context, id, epoch int64) (User, error) {
	u, ok := takeSessionUser(ctx, id)
	var err error
	if !ok {
		u, err = s.store.UserByID(ctx, id)
	}
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrSessionEnded
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: session user: %w", err)
	}
	if u.AuthEpoch != epoch || u.Status != StatusActive {
		return User{}, ErrSessionEnded
	}
	return u, nil
}

// Logout records the sign-out; the caller destroys the session.
func (s *Service) Logout(ctx context.Context, u User, ip string) error {
	return s.store.Record(ctx, audit.Event{ActorID: u.ID, Action: audit.Logout, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip})
}

// CreateUser makes an account. With a password it is active at once; without,
// it is pending and a registration link is emailed (the job is enqueued with
// the account, so a crash cannot create one without the other).
func (s *Service) CreateUser(ctx context.Context, rawEmail, name string, role Role, pw string, actorID int64, next string) (User, error) {
	email, msg := NormalizeEmail(rawEmail)
	errs := FieldErrors{}
	if msg != "" {
		errs["email"] = msg
	}
	name = strings.TrimSpace(name)
	if name != "" {
		if m := nameProblem(name); m != "" {
			errs["name"] = m
		}
	}
	if _, err := ParseRole(string(role)); err != nil {
		errs["role"] = "Choose provider, staff or admin."
	}
	nu := NewUser{Email: email, DisplayName: name, Role: role}
	if pw != "" {
		if e := s.passwordProblems(pw, pw, email, name); len(e) > 0 {
			for k, v := range e {
				errs[k] = v
			}
		}
	}
	if len(errs) > 0 {
		return User{}, errs
	}
	if pw != "" {
		h, err := s.hasher.Hash(ctx, pw)
		if err != nil {
			return User{}, fmt.Errorf("accounts: create user: %w", err)
		}
		nu.PasswordHash = h
	}
	ev := audit.Event{ActorID: actorID, Action: audit.UserCreated, TargetType: "user",
		Detail: map[string]any{"role": string(role), "with_password": pw != ""}}
	invite := func(u User) []Job {
		if pw != "" {
			return nil
		}
		return []Job{LinkEmail{UserID: u.ID, Purpose: PurposeRegister, Next: next}}
	}
	return s.store.CreateUser(ctx, nu, ev, invite)
}

// nameProblem checks a display name: shown to the other side of every
// conversation, so it must be readable and free of control characters.
func nameProblem(name string) string {
	if utf8.RuneCountInString(name) > 100 {
		return "Use at most 100 characters for your name."
	}
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return "Your name contains characters we cannot show. Please retype it."
		}
	}
	return ""
}

// passwordProblems applies NIST SP 800-63B-4 rules (via package password) to
// a new password and its confirmation.
func (s *Service) passwordProblems(pw, confirm, email, name string) FieldErrors {
	errs := FieldErrors{}
	if pw == "" {
		errs["password"] = "Choose a password."
		return errs
	}
	if err := password.Check(pw, s.set.OrgName, email, name); err != nil {
		var pe *password.PolicyError
		if errors.As(err, &pe) {
			errs["password"] = pe.Reason
		} else {
			errs["password"] = "That password cannot be used. Please choose another."
		}
		return errs
	}
	if pw != confirm {
		errs["password_confirm"] = "The two passwords do not match. Type the same password in both boxes."
	}
	return errs
}

// tokenBytes is 256 bits of randomness per emailed link.
const tokenBytes = 32

// newToken returns a fresh link token and the SHA-256 that is stored.
func newToken() (raw string, sum []byte) {
	b := make([]byte, tokenBytes)
	rand.Read(b) // crypto/rand.Read never fails on supported platforms
	raw = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(raw))
	return raw, h[:]
}

// hashToken checks a presented token's shape before hashing it, so garbage
// never reaches the database.
func hashToken(raw string) ([]byte, bool) {
	if len(raw) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return nil, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(raw); err != nil {
		return nil, false
	}
	h := sha256.Sum256([]byte(raw))
	return h[:], true
}

// SignInHistory returns the user's previous sign-in and the failed attempts
// since, for their account page.
func (s *Service) SignInHistory(ctx context.Context, userID int64) (SignInHistory, error) {
	h, err := s.store.SignInHistory(ctx, userID)
	if err != nil {
		return SignInHistory{}, fmt.Errorf("accounts: sign-in history: %w", err)
	}
	return h, nil
}

// User returns the account with id.
func (s *Service) User(ctx context.Context, id int64) (User, error) {
	return s.store.UserByID(ctx, id)
}

// UserByEmail returns the account with email (normalised first).
func (s *Service) UserByEmail(ctx context.Context, email string) (User, error) {
	e, msg := NormalizeEmail(email)
	if msg != "" {
		return User{}, ErrNotFound
	}
	return s.store.UserByEmail(ctx, e)
}
