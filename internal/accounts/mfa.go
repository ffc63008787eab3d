package accounts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/healthnet/secureportal/internal/audit"
)

// Requirement is how a role's second factor is ruled (PORTAL_MFA_STAFF,
// PORTAL_MFA_PROVIDER).
type Requirement string

const (
	MFAOff      Requirement = "off"      // never asked, and not offered
	MFAOptional Requirement = "optional" // asked of those who set one up
	MFARequired Requirement = "required" // everyone sets one up at sign-in
)

// MFAPolicy rules the second factor per role; admins follow Staff.
type MFAPolicy struct {
	Staff    Requirement
	Provider Requirement
}

// For is the requirement for role.
func (p MFAPolicy) For(r Role) Requirement {
	if r == RoleProvider {
		return p.Provider
	}
	return p.Staff
}

// Second-factor outcomes callers branch on.
var (
	// ErrSecondFactorRequired: the password was right and the account has a
	// second factor; sign-in goes on at the code page.
	ErrSecondFactorRequired = errors.New("accounts: password accepted; a second factor is required")
	// ErrEnrolmentRequired: the password was right and the policy requires
	// a second factor the account does not have yet; sign-in goes on at
	// setting one up.
	ErrEnrolmentRequired = errors.New("accounts: password accepted; a second factor must be set up first")
	// ErrSecondFactorLocked: wrong codes locked the account, and the half
	// finished sign-in is over.
	ErrSecondFactorLocked = errors.New("accounts: too many wrong codes; account temporarily locked")
	// ErrNoEnrolment: there is no app to check a code against (none set
	// up, or a set-up form whose key is damaged).
	ErrNoEnrolment = errors.New("accounts: no authenticator app to check the code against")
	// ErrMFANotAllowed: the policy does not let this user do that (turn the
	// second factor off where it is required, set one up where it is off).
	ErrMFANotAllowed = errors.New("accounts: the second-factor policy does not allow that")
)

// Factor names how a sign-in was proven, in audit records and on the account page.
type Factor string

const (
	FactorPassword     Factor = "password"
	FactorTOTP         Factor = "password+totp"
	FactorRecoveryCode Factor = "password+recovery_code"
)

// TOTPSecret is an authenticator app's secret as stored (the store seals
// and opens Secret).
type TOTPSecret struct {
	ID        int64
	Secret    string // base32
	CreatedAt time.Time
	LastStep  int64
}

// Factors is what a user has set up beyond the password.
type Factors struct {
	TOTPSince     time.Time // zero: no authenticator app
	RecoveryCodes int       // unused recovery codes left
}

// SecurityNotice is an email telling a user that their sign-in factors
// changed, so a change they did not make does not go unnoticed.
type SecurityNotice struct {
	UserID int64  `json:"user_id"`
	Change Change `json:"change"`
}

func (SecurityNotice) Kind() string { return "security_notice_email" }

// Change is what a SecurityNotice reports.
type Change string

const (
	ChangeTOTPEnrolled       Change = "totp_enrolled"
	ChangeRecoveryCodesNew   Change = "recovery_codes_replaced"
	ChangeRecoveryCodeUsed   Change = "recovery_code_used"
	ChangeSecondFactorOff    Change = "second_factor_removed"
	ChangeSecondFactorsReset Change = "second_factor_reset_by_admin"
)

// MFAStore is the second-factor part of Store.
type MFAStore interface {
	// SetTOTP seals and stores secret as userID's app, with step used,
	// in place of any other (whose key is shredded), and replaces the
	// recovery codes; with the audit event and jobs, in one transaction.
	SetTOTP(ctx context.Context, userID int64, secret string, step int64, recovery [][]byte, ev audit.Event, jobs ...Job) error
	// TOTP is userID's app secret (ErrNotFound if none).
	TOTP(ctx context.Context, userID int64) (TOTPSecret, error)
	// UseTOTPStep records step as used on secretID, if it is newer than the
	// last one used; false when it is not (a replayed code).
	UseTOTPStep(ctx context.Context, secretID, step int64) (bool, error)
	// UseRecoveryCode spends an unused code of userID with the audit event
	// and jobs; false when there is no such unused code.
	UseRecoveryCode(ctx context.Context, userID int64, hash []byte, ev audit.Event, jobs ...Job) (bool, error)
	// ReplaceRecoveryCodes voids userID's codes and stores new ones.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, ev audit.Event, jobs ...Job) error
	// RemoveSecondFactors deletes (and shreds) every factor of userID
	// (app, recovery codes, passkeys) and
	// bumps the auth epoch, ending every session.
	RemoveSecondFactors(ctx context.Context, userID int64, ev audit.Event, jobs ...Job) (User, error)
	// Factors summarises what userID has set up.
	Factors(ctx context.Context, userID int64) (Factors, error)
}

// SecondFactorPolicy is the policy in force.
func (s *Service) SecondFactorPolicy() MFAPolicy { return s.set.MFA }

// secondStep says what a user whose password was right must do before
// being signed in: nothing, give a code, or set up an app first.
func (s *Service) secondStep(u User) error {
	switch req := s.set.MFA.For(u.Role); {
	case req == MFAOff:
		return nil
	case u.HasTOTP:
		return ErrSecondFactorRequired
	case req == MFARequired && u.Passkeys > 0:
		return ErrPasskeyRequired
	case req == MFARequired:
		return ErrEnrolmentRequired
	}
	return nil
}

// pendingSignIn finds the user of a sign-in that is waiting for its second
// factor, if it may still finish: same account state as when the password
// was given, and not locked since.
func (s *Service) pendingSignIn(ctx context.Context, userID, epoch int64) (User, error) {
	u, err := s.SessionUser(ctx, userID, epoch)
	if err != nil {
		return User{}, err
	}
	if u.TemporarilyLocked(s.now()) {
		return User{}, ErrSecondFactorLocked
	}
	return u, nil
}

// CompleteSignIn finishes a sign-in that stopped at ErrSecondFactorRequired:
// code is the app's current code or an unused recovery code. A wrong code
// counts toward the lockout like a wrong password.
func (s *Service) CompleteSignIn(ctx context.Context, userID, epoch int64, code, ip string) (User, Factor, error) {
	u, err := s.pendingSignIn(ctx, userID, epoch)
	if err != nil {
		return User{}, "", err
	}
	f, err := s.checkCode(ctx, u, code, ip, true)
	if err != nil {
		return User{}, "", err
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"factor": string(f)}}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, "", ev); err != nil {
		return User{}, "", fmt.Errorf("accounts: record login: %w", err)
	}
	u.FailedLogins, u.LastLoginAt = 0, s.now()
	return u, f, nil
}

// Reauthenticate asks a signed-in user to prove themselves again, as at
// sign-in (admin pages after a while): the password, and the app's code
// when they have one. Failures count toward the lockout; success is
// recorded as a sign-in. ErrEnrolmentRequired: the password was right but
// the policy now requires an app the user has not set up.
func (s *Service) Reauthenticate(ctx context.Context, u User, pw, code, ip string) error {
	_, err := s.Login(ctx, u.Email, pw, ip)
	if !errors.Is(err, ErrSecondFactorRequired) {
		return err
	}
	f, err := s.checkCode(ctx, u, code, ip, true)
	if err != nil {
		return err
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"factor": string(f), "reauthentication": true}}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, "", ev); err != nil {
		return fmt.Errorf("accounts: record re-authentication: %w", err)
	}
	return nil
}

// checkCode checks code against u's app or, when recoveryOK, u's recovery
// codes. Problems the user can fix come back as FieldErrors{"code": ...};
// each wrong code is recorded as a failed sign-in.
func (s *Service) checkCode(ctx context.Context, u User, raw, ip string, recoveryOK bool) (Factor, error) {
	code, kind := normaliseCode(raw)
	switch {
	case code == "":
		return "", FieldErrors{"code": "Enter the 6-digit code from your authenticator app."}
	case kind == codeRecovery && recoveryOK:
		return s.useRecoveryCode(ctx, u, code, ip)
	case kind != codeTOTP:
		msg := "Enter the 6-digit code your authenticator app shows now."
		if recoveryOK {
			msg = "Enter the 6-digit code from your authenticator app, or one of your recovery codes (16 letters and digits)."
		}
		return "", FieldErrors{"code": msg}
	}
	sec, err := s.store.TOTP(ctx, u.ID)
	if errors.Is(err, ErrNotFound) {
		return "", ErrNoEnrolment
	}
	if err != nil {
		return "", fmt.Errorf("accounts: second factor: %w", err)
	}
	step, err := s.currentStep(ctx, u, ip, sec.Secret, code,
		"That code is not right. Check that you are reading the entry for "+s.set.OrgName+" and type the code it shows now.")
	if err != nil {
		return "", err
	}
	fresh, err := s.store.UseTOTPStep(ctx, sec.ID, step)
	if err != nil {
		return "", fmt.Errorf("accounts: second factor: %w", err)
	}
	if !fresh {
		return "", s.wrongCode(ctx, u, ip, "replayed_code", "That code was already used. Wait for your app to show a new one.")
	}
	return FactorTOTP, nil
}

func (s *Service) useRecoveryCode(ctx context.Context, u User, code, ip string) (Factor, error) {
	ev := audit.Event{ActorID: u.ID, Action: audit.RecoveryCodeUsed, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	ok, err := s.store.UseRecoveryCode(ctx, u.ID, recoveryHash(code), ev, SecurityNotice{UserID: u.ID, Change: ChangeRecoveryCodeUsed})
	if err != nil {
		return "", fmt.Errorf("accounts: recovery code: %w", err)
	}
	if !ok {
		return "", s.wrongCode(ctx, u, ip, "wrong_recovery_code", "That recovery code is not right, or was already used. Each code works once.")
	}
	s.log.WarnContext(ctx, "recovery code used", "user_id", u.ID)
	return FactorRecoveryCode, nil
}

// currentStep is the step at which secret shows code, within the drift
// allowed; a stale or wrong code counts as a failed sign-in and answers
// with the words for it (wrong says what to check).
func (s *Service) currentStep(ctx context.Context, u User, ip, secret, code, wrong string) (int64, error) {
	switch match, step := matchTOTP(secret, code, s.now()); match {
	case codeStale:
		return 0, s.wrongCode(ctx, u, ip, "expired_code", "That code has expired. Use the newest one from your app.")
	case codeWrong:
		return 0, s.wrongCode(ctx, u, ip, "wrong_code", wrong)
	default:
		return step, nil
	}
}

// wrongCode counts a wrong code as a failed sign-in and answers with msg,
// or ErrSecondFactorLocked once the failures lock the account.
func (s *Service) wrongCode(ctx context.Context, u User, ip, reason, msg string) error {
	now := s.now()
	ev := audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"reason": reason, "consecutive_failures": u.FailedLogins + 1}}
	locked, err := s.store.RecordLoginFailure(ctx, u.ID, s.set.LockoutThreshold, now.Add(s.set.LockoutDuration), ev)
	if err != nil {
		return fmt.Errorf("accounts: record failure: %w", err)
	}
	if locked {
		s.log.WarnContext(ctx, "account locked after wrong second-factor codes", "user_id", u.ID, "until", now.Add(s.set.LockoutDuration))
		return ErrSecondFactorLocked
	}
	return FieldErrors{"code": msg}
}

// NewTOTPKey is a fresh key for u to set up an app with. Nothing is
// stored until a code from the app confirms it (ConfirmTOTP): the set-up
// page carries the key, so looking at the page changes nothing.
func (s *Service) NewTOTPKey(u User) (TOTPKey, error) {
	if s.set.MFA.For(u.Role) == MFAOff {
		return TOTPKey{}, ErrMFANotAllowed
	}
	k, err := newTOTPKey(s.set.OrgName, u.Email)
	if err != nil {
		return TOTPKey{}, fmt.Errorf("accounts: new authenticator key: %w", err)
	}
	return k, nil
}

// TOTPKeyFor is the key of secret (as posted back by the set-up page), to
// show the page again after a wrong code. ErrNoEnrolment: it is not a key
// this portal makes (a damaged or forged form).
func (s *Service) TOTPKeyFor(u User, secret string) (TOTPKey, error) {
	if s.set.MFA.For(u.Role) == MFAOff {
		return TOTPKey{}, ErrMFANotAllowed
	}
	if !wellFormedSecret(secret) {
		return TOTPKey{}, ErrNoEnrolment
	}
	return totpKeyFor(s.set.OrgName, u.Email, secret)
}

// ConfirmTOTP sets up the app with secret (from NewTOTPKey, carried by the
// page) once code is one it shows now, replacing any app u had. It returns
// the new recovery codes, to be shown once. A wrong code counts toward the
// lockout like a wrong password (the user is either signed in or half way
// through signing in).
func (s *Service) ConfirmTOTP(ctx context.Context, u User, secret, raw, ip string) ([]string, error) {
	if s.set.MFA.For(u.Role) == MFAOff {
		return nil, ErrMFANotAllowed
	}
	if !wellFormedSecret(secret) {
		return nil, ErrNoEnrolment
	}
	code, kind := normaliseCode(raw)
	if code == "" || kind != codeTOTP {
		return nil, FieldErrors{"code": "Enter the 6-digit code your authenticator app shows for " + s.set.OrgName + "."}
	}
	step, err := s.currentStep(ctx, u, ip, secret, code,
		"That code is not right. Check that the app's clock is set automatically, and that you added the key shown on this page.")
	if err != nil {
		return nil, err
	}
	shown, hashes := newRecoveryCodes()
	ev := audit.Event{ActorID: u.ID, Action: audit.TOTPEnrolled, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"replaced": u.HasTOTP}}
	if err := s.store.SetTOTP(ctx, u.ID, secret, step, hashes, ev, SecurityNotice{UserID: u.ID, Change: ChangeTOTPEnrolled}); err != nil {
		return nil, fmt.Errorf("accounts: set up authenticator: %w", err)
	}
	return shown, nil
}

// EnrolAtSignIn is ConfirmTOTP for a sign-in that stopped at
// ErrEnrolmentRequired: the first code from the new app is also the
// sign-in's second factor, and the sign-in is recorded.
func (s *Service) EnrolAtSignIn(ctx context.Context, userID, epoch int64, secret, code, ip string) (User, []string, error) {
	u, err := s.pendingSignIn(ctx, userID, epoch)
	if err != nil {
		return User{}, nil, err
	}
	codes, err := s.ConfirmTOTP(ctx, u, secret, code, ip)
	if err != nil {
		return User{}, nil, err
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"factor": string(FactorTOTP)}}
	if err := s.store.RecordLoginSuccess(ctx, u.ID, "", ev); err != nil {
		return User{}, nil, fmt.Errorf("accounts: record login: %w", err)
	}
	u.HasTOTP, u.FailedLogins, u.LastLoginAt = true, 0, s.now()
	return u, codes, nil
}

// NewRecoveryCodes replaces u's recovery codes, after a current code from
// their app, and returns the new ones to show once.
func (s *Service) NewRecoveryCodes(ctx context.Context, u User, code, ip string) ([]string, error) {
	if _, err := s.checkCode(ctx, u, code, ip, false); err != nil {
		return nil, err
	}
	shown, hashes := newRecoveryCodes()
	ev := audit.Event{ActorID: u.ID, Action: audit.RecoveryCodesReplaced, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	if err := s.store.ReplaceRecoveryCodes(ctx, u.ID, hashes, ev, SecurityNotice{UserID: u.ID, Change: ChangeRecoveryCodesNew}); err != nil {
		return nil, fmt.Errorf("accounts: new recovery codes: %w", err)
	}
	return shown, nil
}

// TurnOffSecondFactor removes u's app and recovery codes, after a current
// code, where the policy leaves the second factor optional. Every session
// ends; the caller renews this browser's.
func (s *Service) TurnOffSecondFactor(ctx context.Context, u User, code, ip string) (User, error) {
	if s.set.MFA.For(u.Role) == MFARequired {
		return User{}, ErrMFANotAllowed
	}
	if _, err := s.checkCode(ctx, u, code, ip, false); err != nil {
		return User{}, err
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.SecondFactorRemoved, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip}
	return s.store.RemoveSecondFactors(ctx, u.ID, ev, SecurityNotice{UserID: u.ID, Change: ChangeSecondFactorOff})
}

// Factors is what u has set up beyond the password, for the account page.
func (s *Service) Factors(ctx context.Context, u User) (Factors, error) {
	f, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return Factors{}, fmt.Errorf("accounts: factors: %w", err)
	}
	return f, nil
}

// ResetSecondFactorByEmail is `portal user reset-mfa`: for the last admin,
// who lost their phone and cannot reach the console that would do it.
func (s *Service) ResetSecondFactorByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return User{}, err
	}
	if !u.HasSecondFactor() {
		return User{}, ErrActionNotApplicable
	}
	ev := audit.Event{Action: audit.Action("admin." + string(ActionResetMFA)), TargetType: "user", TargetID: fmt.Sprint(u.ID),
		Detail: map[string]any{"reason": "portal user reset-mfa (command line)", "status_before": string(u.Status)}}
	return s.store.RemoveSecondFactors(ctx, u.ID, ev, SecurityNotice{UserID: u.ID, Change: ChangeSecondFactorsReset})
}
