// Package audit names the security events the portal records and the shape
// of one event. Events are appended to a hash-chained, append-only table
// (migrations/0002_accounts.sql) by the store that makes the change, in the
// same transaction, so an audited change and its record land together.
package audit

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
	SessionEnded       Action = "session.ended"
	PasswordRehashed   Action = "password.rehashed"
	LinkEmailSent      Action = "link_email.sent"
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
