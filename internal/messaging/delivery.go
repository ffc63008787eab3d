package messaging

import "time"

// Delivery is how one message reached one recipient, for the staff view and
// the audit: straight to their mail server over verified TLS, or held in
// the portal (with a notification unless the domain's policy forbids plain
// mail), and why in plain words. It names mail hosts, never content.
type Delivery struct {
	MessageID   string
	RecipientID int64
	Method      string // "tls" or "portal"
	// Notified is true when a portal notification was emailed.
	Notified bool
	// Reason is why, e.g. "mx.clinic.example offered no STARTTLS".
	Reason     string
	MX         string
	TLSVersion string
	// VerifiedBy says what vouched for the server's certificate:
	// "certificate", "MTA-STS enforce", "DANE".
	VerifiedBy string
	At         time.Time
}

// Outgoing is a staff message as it leaves by TLS for one recipient:
// decrypted in memory for that delivery, never stored decrypted.
type Outgoing struct {
	MessageID  string
	ThreadID   string
	Subject    string
	Body       string
	SenderName string
	CreatedAt  time.Time
	// Attachments are read one at a time while the mail is written.
	Attachments []Attachment
}
