// Package audit names the security events the portal records and the shape
// of one event. Events are appended to a hash-chained, append-only table
// (migrations/0002_accounts.sql) by the store that makes the change, in the
// same transaction, so an audited change and its record land together.
package audit

import (
	"context"
	"time"
)

// Action names an event. The values are stored and exported: never rename.
type Action string

const (
	LoginSucceeded     Action = "login.succeeded"
	LoginFailed        Action = "login.failed"
	AccountLocked      Action = "account.locked"
	Logout             Action = "logout"
	UserCreated        Action = "user.created"
	Registered         Action = "registration.completed"
	RegistrationResent Action = "registration.link_requested"
	ResetRequested     Action = "password_reset.requested"
	ResetCompleted     Action = "password_reset.completed"
	PasswordRehashed   Action = "password.rehashed"
	PasswordChanged    Action = "password.changed"
	SessionsEnded      Action = "sessions.ended_elsewhere"
	ProfileUpdated     Action = "account.profile_updated"
	EmergencyAccess    Action = "admin.emergency_access"
	TeamChanged        Action = "admin.team_changed"
	RoleChanged        Action = "admin.role_changed"
	KeysRotated        Action = "admin.keys_rotated"
	AuditExported      Action = "admin.audit_exported"
	// Second factor (the admin's reset is "admin.reset_mfa").
	TOTPEnrolled          Action = "mfa.totp_enrolled"
	RecoveryCodeUsed      Action = "mfa.recovery_code_used"
	RecoveryCodesReplaced Action = "mfa.recovery_codes_replaced"
	SecondFactorRemoved   Action = "mfa.removed"
	PasskeyAdded          Action = "mfa.passkey_added"
	PasskeyRemoved        Action = "mfa.passkey_removed"
)

// Event is one audit record. Detail must never hold PHI, passwords or tokens:
// ids, counts and reasons only.
type Event struct {
	ActorID    int64 // 0 when nobody is signed in
	Action     Action
	TargetType string // "user", "thread", "message", ...
	TargetID   string
	IP         string
	Detail     map[string]any
}

// Entry is one stored audit event as the viewer and the CSV export show it.
type Entry struct {
	ID          int64
	At          time.Time
	ActorID     int64
	ActorEmail  string
	Action      string
	TargetType  string
	TargetID    string
	TargetEmail string // when the target is a user
	IP          string
	Detail      string // JSON
}

// Filter narrows the audit log. Zero fields do not filter.
type Filter struct {
	ActorEmail   string
	SubjectEmail string // the user an event was about
	Action       string // exact, or a prefix ending in "." (e.g. "message.")
	ThreadID     string
	From, To     time.Time
	// Before is the id of the last row shown (keyset pagination, newest first).
	Before int64
	Limit  int
}

// Log reads the audit log.
type Log interface {
	List(ctx context.Context, f Filter) ([]Entry, error)
	// Export calls fn for every matching event, oldest first, streaming:
	// a range of any size never sits in memory.
	Export(ctx context.Context, f Filter, fn func(Entry) error) error
}
