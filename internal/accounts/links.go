package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/healthnet/secureportal/internal/audit"
)

// IssueLink mints a link token for a user, stores its hash (voiding older
// ones of the same purpose) and returns the raw token for the email. It is
// called by the mail worker right before sending. ErrNotFound means the
// account is no longer in a state the link is for (e.g. already registered);
// the worker then sends nothing.
func (s *Service) IssueLink(ctx context.Context, userID int64, purpose Purpose, next string) (string, User, error) {
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return "", User{}, fmt.Errorf("accounts: issue link: %w", err)
	}
	var ttl = s.set.ResetTTL
	switch {
	case purpose == PurposeRegister && u.Status == StatusPending:
		ttl = s.set.RegistrationTTL
	case purpose == PurposeReset && u.Status == StatusActive:
	default:
		return "", User{}, fmt.Errorf("accounts: issue %s link for %s user %d: %w", purpose, u.Status, u.ID, ErrNotFound)
	}
	raw, sum := newToken()
	t := Token{UserID: u.ID, Purpose: purpose, NextPath: SafeNext(next), ExpiresAt: s.now().Add(ttl)}
	if err := s.store.InsertToken(ctx, t, sum); err != nil {
		return "", User{}, fmt.Errorf("accounts: issue link: %w", err)
	}
	return raw, u, nil
}

// CheckLink finds the account behind a presented link. Any problem (garbage,
// unknown, used, expired, replaced by a newer link, or the account moved on)
// is ErrTokenInvalid: the page offers a new link either way.
func (s *Service) CheckLink(ctx context.Context, raw string, purpose Purpose) (Token, User, error) {
	sum, ok := hashToken(raw)
	if !ok {
		return Token{}, User{}, ErrTokenInvalid
	}
	t, err := s.store.TokenByHash(ctx, sum, s.now())
	if errors.Is(err, ErrNotFound) {
		return Token{}, User{}, ErrTokenInvalid
	}
	if err != nil {
		return Token{}, User{}, fmt.Errorf("accounts: check link: %w", err)
	}
	if t.Purpose != purpose {
		return Token{}, User{}, ErrTokenInvalid
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil {
		return Token{}, User{}, ErrTokenInvalid
	}
	want := StatusActive
	if purpose == PurposeRegister {
		want = StatusPending
	}
	if u.Status != want {
		return Token{}, User{}, ErrTokenInvalid
	}
	return t, u, nil
}

// Register completes registration from an emailed link: it sets the display
// name and password, activates the account and consumes the token. The
// caller signs the user in and sends them to the returned token's NextPath.
func (s *Service) Register(ctx context.Context, raw, name, pw, confirm, ip string) (User, Token, error) {
	t, u, err := s.CheckLink(ctx, raw, PurposeRegister)
	if err != nil {
		return User{}, Token{}, err
	}
	name = strings.TrimSpace(name)
	errs := s.passwordProblems(pw, confirm, u.Email, name)
	switch {
	case name == "":
		errs["name"] = "Enter your name as it should appear to " + s.set.OrgName + "."
	case nameProblem(name) != "":
		errs["name"] = nameProblem(name)
	}
	if len(errs) > 0 {
		return User{}, Token{}, errs
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, Token{}, fmt.Errorf("accounts: register: %w", err)
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.Registered, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	u, err = s.store.CompleteRegistration(ctx, t.ID, u.ID, name, h, s.now(), ev)
	if errors.Is(err, ErrNotFound) {
		return User{}, Token{}, ErrTokenInvalid // a double submit lost the race
	}
	if err != nil {
		return User{}, Token{}, fmt.Errorf("accounts: register: %w", err)
	}
	return u, t, nil
}

// ResetPassword sets a new password from an emailed reset link. It ends every
// session of the account, clears a lockout, and emails a notice; it does not
// sign the user in (whoever holds the link must still know the new password).
func (s *Service) ResetPassword(ctx context.Context, raw, pw, confirm, ip string) (User, error) {
	t, u, err := s.CheckLink(ctx, raw, PurposeReset)
	if err != nil {
		return User{}, err
	}
	if errs := s.passwordProblems(pw, confirm, u.Email, u.DisplayName); len(errs) > 0 {
		return User{}, errs
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, fmt.Errorf("accounts: reset: %w", err)
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.ResetCompleted, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	u, err = s.store.CompleteReset(ctx, t.ID, u.ID, h, s.now(), ev, PasswordChangedEmail{UserID: u.ID})
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrTokenInvalid
	}
	if err != nil {
		return User{}, fmt.Errorf("accounts: reset: %w", err)
	}
	return u, nil
}

// ChangePassword sets a new password for a signed-in user who knows the
// current one; u is the account as this request loaded it. A wrong current password counts toward the lockout exactly
// like a failed sign-in, so a session left open cannot be used to guess it.
// Every session of the account ends (the auth epoch moves): the caller
// carries the current browser over with the returned user. A notice is
// emailed, as after a reset.
func (s *Service) ChangePassword(ctx context.Context, u User, current, pw, confirm, ip string) (User, error) {
	if current == "" {
		return User{}, FieldErrors{"current_password": "Enter your current password."}
	}
	now := s.now()
	if u.TemporarilyLocked(now) {
		wait := int(u.LockedUntil.Sub(now).Minutes()) + 1
		return User{}, FieldErrors{"current_password": fmt.Sprintf("Too many wrong passwords. Try again in %d minutes, "+
			"or get a reset link by email (below).", wait)}
	}
	ok, _, err := s.hasher.Verify(ctx, current, u.PasswordHash)
	if err != nil {
		return User{}, fmt.Errorf("accounts: change password of user %d: %w", u.ID, err)
	}
	if !ok {
		fail := audit.Event{ActorID: u.ID, Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
			Detail: map[string]any{"reason": "wrong_current_password", "consecutive_failures": u.FailedLogins + 1}}
		if _, err := s.store.RecordLoginFailure(ctx, u.ID, s.set.LockoutThreshold, now.Add(s.set.LockoutDuration), fail); err != nil {
			return User{}, fmt.Errorf("accounts: record failure: %w", err)
		}
		return User{}, FieldErrors{"current_password": "That is not your current password."}
	}
	if errs := s.passwordProblems(pw, confirm, u.Email, u.DisplayName); len(errs) > 0 {
		return User{}, errs
	}
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return User{}, fmt.Errorf("accounts: change password: %w", err)
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.PasswordChanged, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	u, err = s.store.ChangePassword(ctx, u.ID, h, now, ev, PasswordChangedEmail{UserID: u.ID})
	if err != nil {
		return User{}, fmt.Errorf("accounts: change password: %w", err)
	}
	return u, nil
}

// EndOtherSessions signs the user out everywhere but here (a shared or lost
// computer): the auth epoch moves, and the caller carries the current
// browser over with the returned user.
func (s *Service) EndOtherSessions(ctx context.Context, u User, ip string) (User, error) {
	ev := audit.Event{ActorID: u.ID, Action: audit.SessionsEnded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	u, err := s.store.Administer(ctx, u.ID, ActionEndSessions, ev)
	if err != nil {
		return User{}, fmt.Errorf("accounts: end other sessions: %w", err)
	}
	return u, nil
}

// RequestReset handles the forgot-password form. Its answer never depends on
// whether the account exists: an active account gets a reset link, a pending
// one a fresh registration link, anything else nothing. A temporary lockout
// does not stand in the way: resetting is how a locked-out user gets back in.
func (s *Service) RequestReset(ctx context.Context, rawEmail, ip string) error {
	email, msg := NormalizeEmail(rawEmail)
	if msg != "" {
		return FieldErrors{"email": msg}
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		return s.store.Record(ctx, audit.Event{Action: audit.ResetRequested, IP: ip,
			Detail: map[string]any{"outcome": "no_account", "email": email}})
	}
	if err != nil {
		return fmt.Errorf("accounts: request reset: %w", err)
	}
	ev := audit.Event{Action: audit.ResetRequested, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	switch u.Status {
	case StatusActive:
		ev.Detail = map[string]any{"outcome": "reset_link"}
		return s.store.Record(ctx, ev, LinkEmail{UserID: u.ID, Purpose: PurposeReset})
	case StatusPending:
		ev.Detail = map[string]any{"outcome": "registration_link"}
		return s.store.Record(ctx, ev, LinkEmail{UserID: u.ID, Purpose: PurposeRegister})
	}
	ev.Detail = map[string]any{"outcome": "refused_" + string(u.Status)}
	return s.store.Record(ctx, ev)
}

// RequestNewRegistrationLink answers "send me a new link" on an expired or
// used registration page. The link goes only to the account's own address,
// and the answer is the same whatever the token was.
func (s *Service) RequestNewRegistrationLink(ctx context.Context, raw, ip string) error {
	sum, ok := hashToken(raw)
	if !ok {
		return nil
	}
	t, err := s.store.TokenByHashAnyState(ctx, sum)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("accounts: new registration link: %w", err)
	}
	u, err := s.store.UserByID(ctx, t.UserID)
	if err != nil || u.Status != StatusPending || t.Purpose != PurposeRegister {
		return nil
	}
	return s.store.Record(ctx, audit.Event{Action: audit.RegistrationResent, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"reason": "expired_link"}}, LinkEmail{UserID: u.ID, Purpose: PurposeRegister, Next: t.NextPath})
}

// SafeNext returns next if it is a local path on this site, else "". It
// stops open redirects: "//evil.example", "/\evil.example", "https://…" and
// anything with a scheme or host are refused.
func SafeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 512 {
		return ""
	}
	if strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\\\r\n\t") {
		return ""
	}
	for _, r := range next {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	return next
}
