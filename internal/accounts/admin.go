package accounts

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/audit"
)

// AdminAction is something an admin does to an account. The values are in
// URLs and audit records: never rename.
type AdminAction string

const (
	ActionResetLink          AdminAction = "reset_link"          // email a password-reset link; end sessions
	ActionForceReregister    AdminAction = "force_reregister"    // clear the password; email a registration link; end sessions
	ActionUnlock             AdminAction = "unlock"              // lift an admin lock or a failed-sign-in lockout
	ActionDisable            AdminAction = "disable"             // switch the account off; end sessions
	ActionEnable             AdminAction = "enable"              // switch it back on
	ActionResendRegistration AdminAction = "resend_registration" // email a fresh registration link
	ActionEndSessions        AdminAction = "end_sessions"        // sign the user out everywhere
	ActionResetMFA           AdminAction = "reset_mfa"           // remove the authenticator app and recovery codes; end sessions
)

// AdminActions lists every action with what it means, in the order the
// console shows them.
var AdminActions = []struct {
	Action      AdminAction
	Label       string
	Description string
}{
	{ActionResetLink, "Send a password-reset link", "Signs the user out everywhere and emails them a link to choose a new password."},
	{ActionForceReregister, "Force re-registration", "Clears the password, signs the user out everywhere and emails a new registration link."},
	{ActionUnlock, "Unlock", "Lifts a lock set by an admin or by too many failed sign-ins."},
	{ActionDisable, "Disable", "Switches the account off and signs the user out everywhere. Their threads are kept."},
	{ActionEnable, "Enable", "Switches a disabled account back on."},
	{ActionResendRegistration, "Resend the registration link", "Emails a fresh registration link; older links stop working."},
	{ActionEndSessions, "End all sessions", "Signs the user out on every computer at once."},
	{ActionResetMFA, "Reset the second factor", "Removes the user's authenticator app, recovery codes and passkeys (a lost phone) and signs them out everywhere; where a second factor is required they set up a new one at their next sign-in. We email them about it."},
}

// ParseAdminAction accepts only the actions above.
func ParseAdminAction(s string) (AdminAction, bool) {
	for _, a := range AdminActions {
		if string(a.Action) == s {
			return a.Action, true
		}
	}
	return "", false
}

// Admin errors.
var (
	ErrActionNotApplicable = errors.New("accounts: that action does not apply to the account as it is now")
	ErrSelfAction          = errors.New("accounts: admins cannot do that to their own account")
	// ErrLastAdmin: the store refuses to disable, force to re-register or
	// demote the last active admin, inside the transaction that would do it,
	// so two admins acting on each other at once cannot both succeed.
	ErrLastAdmin = errors.New("accounts: that would leave no active admin")
)

// Applies reports whether action makes sense for u now; the console offers
// only these, and Administer refuses the others (a stale page, a double
// submit).
func Applies(action AdminAction, u User, now time.Time) bool {
	switch action {
	case ActionResetLink, ActionEndSessions:
		return u.Status == StatusActive
	case ActionForceReregister:
		return u.Status == StatusActive || u.Status == StatusLocked
	case ActionUnlock:
		return u.Status == StatusLocked || (u.Status == StatusActive && u.TemporarilyLocked(now))
	case ActionDisable:
		return u.Status != StatusDisabled
	case ActionEnable:
		return u.Status == StatusDisabled
	case ActionResendRegistration:
		return u.Status == StatusPending
	case ActionResetMFA:
		return u.HasSecondFactor()
	}
	return false
}

// Administer carries out an admin's action on the account targetID with a
// mandatory reason, audited with the admin as actor. An admin never sees or
// sets a password: resets go through emailed links.
func (s *Service) Administer(ctx context.Context, admin User, targetID int64, action AdminAction, reason, ip string) (User, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return User{}, FieldErrors{"reason": "Say why (for the audit log)."}
	}
	if len([]rune(reason)) > 500 {
		return User{}, FieldErrors{"reason": "Use at most 500 characters."}
	}
	u, err := s.store.UserByID(ctx, targetID)
	if err != nil {
		return User{}, err
	}
	if u.ID == admin.ID && action != ActionResetLink {
		return User{}, ErrSelfAction
	}
	if !Applies(action, u, s.now()) {
		return User{}, ErrActionNotApplicable
	}
	ev := audit.Event{ActorID: admin.ID, Action: audit.Action("admin." + string(action)), TargetType: "user",
		TargetID: fmt.Sprint(u.ID), IP: ip, Detail: map[string]any{"reason": reason, "status_before": string(u.Status)}}
	var jobs []Job
	switch action {
	case ActionResetLink:
		jobs = append(jobs, LinkEmail{UserID: u.ID, Purpose: PurposeReset})
	case ActionForceReregister, ActionResendRegistration:
		jobs = append(jobs, LinkEmail{UserID: u.ID, Purpose: PurposeRegister})
	}
	if action == ActionResetMFA {
		u, err = s.store.RemoveSecondFactors(ctx, u.ID, ev, SecurityNotice{UserID: u.ID, Change: ChangeSecondFactorsReset})
	} else {
		u, err = s.store.Administer(ctx, u.ID, action, ev, jobs...)
	}
	if errors.Is(err, ErrNotFound) {
		return User{}, ErrActionNotApplicable // the account changed under us
	}
	return u, err
}

// ResetByEmail is `portal user reset`: the CLI twin of "send a
// password-reset link" for an admin locked out of the console. A pending
// account gets a fresh registration link instead.
func (s *Service) ResetByEmail(ctx context.Context, email string) (User, error) {
	u, err := s.UserByEmail(ctx, email)
	if err != nil {
		return User{}, err
	}
	ev := audit.Event{Action: audit.Action("admin." + string(ActionResetLink)), TargetType: "user", TargetID: fmt.Sprint(u.ID),
		Detail: map[string]any{"reason": "portal user reset (command line)", "status_before": string(u.Status)}}
	switch u.Status {
	case StatusPending:
		return s.store.Administer(ctx, u.ID, ActionResendRegistration, ev, LinkEmail{UserID: u.ID, Purpose: PurposeRegister})
	case StatusDisabled:
		return User{}, ErrActionNotApplicable
	}
	// A locked account is unlocked too: the point is to get back in.
	return s.store.Administer(ctx, u.ID, ActionResetLink, ev, LinkEmail{UserID: u.ID, Purpose: PurposeReset})
}

// SearchUsers lists accounts for the admin console.
func (s *Service) SearchUsers(ctx context.Context, f UserFilter) ([]User, error) {
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	if f.Role != "" {
		if _, err := ParseRole(string(f.Role)); err != nil {
			f.Role = ""
		}
	}
	switch f.Status {
	case "", StatusPending, StatusActive, StatusLocked, StatusDisabled:
	default:
		f.Status = ""
	}
	return s.store.SearchUsers(ctx, f)
}

// ChangeRole changes a user's role (audited, with a reason) and ends their
// sessions. The last active admin cannot be demoted, nor can an admin
// change their own role.
func (s *Service) ChangeRole(ctx context.Context, admin User, targetID int64, role Role, reason, ip string) (User, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return User{}, FieldErrors{"role": "Choose provider, staff or admin."}
	}
	if strings.TrimSpace(reason) == "" {
		return User{}, FieldErrors{"reason": "Say why (for the audit log)."}
	}
	if targetID == admin.ID {
		return User{}, ErrSelfAction
	}
	u, err := s.store.UserByID(ctx, targetID)
	if err != nil {
		return User{}, err
	}
	if u.Role == role {
		return u, nil
	}
	ev := audit.Event{ActorID: admin.ID, Action: audit.RoleChanged, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"reason": strings.TrimSpace(reason), "from": string(u.Role), "to": string(role)}}
	return s.store.ChangeRole(ctx, u.ID, role, ev)
}

// RecordAdminEvent audits something an admin did that changes no account,
// such as exporting the audit log.
func (s *Service) RecordAdminEvent(ctx context.Context, ev audit.Event) error {
	return s.store.Record(ctx, ev)
}

// ResendRegistrationFor emails a pending provider a fresh registration
// link at a representative's request (the first email went astray);
// ErrActionNotApplicable when the provider has registered or is off. The
// caller checks that the representative serves the provider.
func (s *Service) ResendRegistrationFor(ctx context.Context, staff User, providerID int64, ip string) error {
	u, err := s.store.UserByID(ctx, providerID)
	if err != nil {
		return err
	}
	if u.Role != RoleProvider || u.Status != StatusPending {
		return ErrActionNotApplicable
	}
	ev := audit.Event{ActorID: staff.ID, Action: audit.RegistrationResent, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"requested_by": "staff"}}
	_, err = s.store.Administer(ctx, u.ID, ActionResendRegistration, ev, LinkEmail{UserID: u.ID, Purpose: PurposeRegister})
	if errors.Is(err, ErrNotFound) {
		return ErrActionNotApplicable
	}
	return err
}
