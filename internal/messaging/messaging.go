// Package messaging is why the portal exists: threads between a provider and
// a representative (or a team), their messages and attachments, read
// receipts, recall, and the notifications that announce new messages without
// carrying any PHI.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Viewer is who is looking: every query is scoped by it, so someone else's
// thread answers exactly like one that does not exist.
type Viewer struct {
	UserID int64
	// Staff is true for representatives (role staff); false for providers.
	Staff bool
	// Emergency is true for an admin: they see only threads they hold a
	// live emergency-access grant for, read-only.
	Emergency bool
	IP        string
}

// Errors callers branch on.
var (
	ErrNotFound       = errors.New("messaging: not found")
	ErrTooLarge       = errors.New("messaging: attachment too large")
	ErrTooManyFiles   = errors.New("messaging: too many attachments")
	ErrFileRefused    = errors.New("messaging: file type not accepted")
	ErrNotAProvider   = errors.New("messaging: that address belongs to a staff account")
	ErrRecipientUnset = errors.New("messaging: recipient not allowed")
	ErrProviderOff    = errors.New("messaging: the provider's account is disabled")
	ErrWithdrawn      = errors.New("messaging: message withdrawn")
	ErrNotStaff       = errors.New("messaging: not a representative's address")
	ErrNotInTeam      = errors.New("messaging: the representative is not in the thread's team")
	// Why a reminder was not sent.
	ErrAlreadyOpened    = errors.New("messaging: the provider has opened the message")
	ErrSentByEmail      = errors.New("messaging: the message was delivered to the provider's mailbox")
	ErrRemindedRecently = errors.New("messaging: the provider was reminded recently")
	ErrNoTeam           = errors.New("messaging: the thread has no team to release it to")
	ErrTeamExists       = errors.New("messaging: a team with that name exists")
)

// Team is a group of representatives sharing threads, e.g. "Provider
// Services – Los Angeles County".
type Team struct {
	ID             int64
	Name           string
	LineOfBusiness string
}

// Recipient is someone a provider may write to: a representative they
// already correspond with, or a team.
type Recipient struct {
	Key         string // "staff:12" or "team:3" (RecipientKey): the compose form's value
	Name        string
	Description string
}

// The kinds of recipient, the first part of a Recipient's Key.
const (
	RecipientStaff = "staff"
	RecipientTeam  = "team"
)

// RecipientKey is the Key of the recipient of kind with id, e.g. "team:3".
func RecipientKey(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

// ParseRecipientKey splits a Key made by RecipientKey. ok is false for
// anything else (a forged form value), which a store refuses with
// ErrRecipientUnset.
func ParseRecipientKey(key string) (kind string, id int64, ok bool) {
	kind, idText, _ := strings.Cut(key, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || (kind != RecipientStaff && kind != RecipientTeam) || RecipientKey(kind, id) != key {
		return "", 0, false
	}
	return kind, id, true
}

// ThreadSummary is one line of an inbox.
type ThreadSummary struct {
	ID            string
	Subject       string // "" when withdrawn or expired
	Withdrawn     bool
	Expired       bool
	Counterpart   string // provider sees the representative or team; staff the provider
	ProviderEmail string
	TeamName      string
	LastMessageAt time.Time
	Unread        int
	AwaitingReply bool // staff: the provider wrote last
	Status        Status
	// NotOpened: a staff message has waited in the portal, unopened by the
	// provider, since before Page.NotOpenedBefore.
	NotOpened bool
}

// Status is where a thread stands for the representatives. The values are
// stored and in forms: never rename.
type Status string

const (
	StatusOpen    Status = "open"    // the team owes an answer, or has not decided
	StatusWaiting Status = "waiting" // on the provider, after a staff message
	StatusDone    Status = "done"    // closed; a provider's message reopens it
)

// ParseStatus accepts exactly the stored values.
func ParseStatus(s string) (Status, bool) {
	switch st := Status(s); st {
	case StatusOpen, StatusWaiting, StatusDone:
		return st, true
	}
	return "", false
}

// Thread is a conversation with its messages, oldest first.
type Thread struct {
	ID            string
	Subject       string
	Withdrawn     bool
	ExpiredAt     time.Time // set when retention destroyed the whole thread
	ProviderName  string
	ProviderEmail string
	StaffName     string
	TeamName      string
	Status        Status
	ProviderID    int64
	// OwnerID is the representative who owns the thread (0: unassigned,
	// the team's); HasTeam tells whether a team shares it.
	OwnerID int64
	HasTeam bool
	// OwnerAwayUntil is when the owner's out of office ends (zero: not
	// away now); OwnerDisabled, that the owner can no longer sign in.
	// Either way the team is told of the provider's new messages.
	OwnerAwayUntil time.Time
	OwnerDisabled  bool
	// ProviderArchived: the provider filed it under "Archived".
	ProviderArchived bool
	// History (staff only) is who took, handed over or released the
	// thread, and who set its status by hand, oldest first.
	History  []ThreadEvent
	Messages []Message
	// Notes are the staff's internal notes, oldest first; only ever
	// loaded for staff.
	Notes []Note
}

// RecallTarget is what withdrawing a message will do, for its confirmation.
type RecallTarget struct {
	ThreadID string
	// OnlyMessage: the conversation has no other message, so its subject
	// is destroyed too.
	OnlyMessage bool
	// SentByEmail: a copy went to the provider's mail server, which a
	// recall cannot reach.
	SentByEmail bool
}

// Note is an internal note on a thread: staff only, never emailed, never
// shown to the provider.
type Note struct {
	AuthorName string
	Body       string
	CreatedAt  time.Time
}

// Message is one message as its viewer may see it.
type Message struct {
	ID           string
	SenderName   string
	FromViewer   bool
	FromProvider bool
	Body         string
	CreatedAt    time.Time
	// Withdrawn is true when the sender recalled it (its key is destroyed).
	Withdrawn bool
	// ExpiredAt is set when retention destroyed it.
	ExpiredAt   time.Time
	Attachments []Attachment
	// ReadAt is when the other side first opened it (zero: not yet).
	ReadAt time.Time
	// Deliveries say how the message reached its recipients (staff view
	// only; empty for provider messages and before the job ran).
	Deliveries []Delivery
}

// Attachment is a file's metadata.
type Attachment struct {
	ID          string
	Name        string
	ContentType string
	Size        int64
}

// Upload is one file arriving with a message; Body is read once, streaming.
// There is no content type: the browser's claim is not trusted, the store
// decides it from the name (CheckFile).
type Upload struct {
	Name string
	Body io.Reader
}

// Uploads yields the files of a message one at a time (io.EOF at the end),
// so a whole file is never held in memory: the store encrypts each as it
// arrives.
type Uploads interface {
	Next() (Upload, error)
}

// NewMessage is a message to store.
type NewMessage struct {
	Body  string
	Files Uploads
	// ExpiresAt, when set, is when the retention job destroys the message.
	ExpiresAt time.Time
}

// Filter narrows a staff inbox.
type Filter string

const (
	FilterAll      Filter = ""
	FilterUnread   Filter = "unread"
	FilterAwaiting Filter = "awaiting"
	FilterNotDone  Filter = "open" // everything not marked done
	FilterDone     Filter = "done"
	FilterMine     Filter = "mine"       // the viewer owns it
	FilterNoOwner  Filter = "unassigned" // the team's, nobody's in particular
	// A provider's own filing: their inbox leaves out what they archived.
	FilterArchived Filter = "archived"
)

// Page is a window of an inbox. Before is the keyset cursor of the last row
// shown ("" for the first page).
type Page struct {
	Filter Filter
	Before string
	Limit  int
	// ProviderID, when not 0, keeps only the threads with that provider.
	ProviderID int64
	// NotOpenedBefore, when set (staff), flags threads with a staff message
	// waiting in the portal since before it that the provider has not opened.
	NotOpenedBefore time.Time

	// Narrowing, all optional: the staff search form's filters (a provider
	// uses Since and Until only).
	TeamID        int64     // only threads shared with this team
	Since, Until  time.Time // last activity on or after Since, before Until
	HasAttachment bool      // only threads with a file still there
	NotOpenedOnly bool      // only threads flagged by NotOpenedBefore
	// IDs, when not nil, keeps only these threads (a search's page).
	IDs []string
	// WithArchived keeps a provider's archived threads in the list (a
	// search looks through everything).
	WithArchived bool
}

// ThreadEvent is one change of a thread's owner or status by hand.
type ThreadEvent struct {
	At    time.Time
	Actor string // who did it
	// Owner change: ToOwner is the new owner's name ("": left to the
	// team), Took that the actor made themselves the owner.
	Assigned bool
	ToOwner  string
	Took     bool
	// Status change: the new status.
	Status Status
}

// Draft is a message's form as posted after its writer's session ended:
// which form (its page's path), the text fields, and how many files were
// left behind (files are not held).
type Draft struct {
	FormPath string
	Fields   map[string]string
	// Files are the files held with it, given back with their names.
	Files []KeptFile
}

// KeptFile is a file held with a draft and given back to its writer: it
// is sent with the message when the form comes back with its id.
type KeptFile struct {
	ID   string
	Name string
	Size int64
}

// SavedReply is a team's ready answer, for the reply box.
type SavedReply struct {
	ID       string
	TeamID   int64
	TeamName string
	Title    string
	Body     string
}

// Away is a representative's out of office, from From until Until
// (exclusive). While it lasts, providers' new messages to threads they own
// notify the thread's team, and the threads show as the team's.
type Away struct {
	From, Until time.Time
}

// IsZero reports whether no out of office is set.
func (a Away) IsZero() bool { return a.Until.IsZero() }

// Now reports whether it is in force at t.
func (a Away) Now(t time.Time) bool { return !a.IsZero() && !t.Before(a.From) && t.Before(a.Until) }

// ProviderCard is a provider as staff see them: who, whether registered,
// when last signed in. ID is the account id.
type ProviderCard struct {
	ID          int64
	Name, Email string
	Pending     bool // invited, not registered yet
	Disabled    bool
	LastLoginAt time.Time // zero: never
	// From the provider's profile ("" when not given; Language: not set).
	Practice, Phone, Language string
}

// PurgeReport says what one retention run destroyed.
type PurgeReport struct {
	Messages int // messages past their own expiry
	Threads  int // whole threads past the retention period
	Keys     int // data keys destroyed
}

func (p PurgeReport) String() string {
	return fmt.Sprintf("%d messages and %d threads expired, %d keys destroyed", p.Messages, p.Threads, p.Keys)
}

// NotifyMessage asks the mail worker to tell one recipient that a message
// waits for them. It carries ids only: no subject, body or file name.
type NotifyMessage struct {
	MessageID   string `json:"message_id"`
	RecipientID int64  `json:"recipient_id"`
	// Reminder: staff asked to tell the provider again about a message
	// still unopened in the portal: a notification only (no delivery over
	// TLS, no delivery record), whatever was done before.
	Reminder bool `json:"reminder,omitempty"`
}

func (NotifyMessage) Kind() string { return "message_notification" }

// Store is what messaging needs from the database. Implementations encrypt
// subjects, bodies, file names and file bytes on the way in, decrypt on the
// way out, scope every read by the viewer, and write audit events and
// notification jobs in the same transaction as the change.
type Store interface {
	// StartThreadToProvider creates a thread from staff to the provider
	// with email, creating a pending provider account if there is none.
	StartThreadToProvider(ctx context.Context, staff Viewer, providerEmail, subject string, m NewMessage) (threadID string, err error)
	// StartThreadFromProvider creates a thread from a provider to an
	// allowed recipient (see Recipients).
	StartThreadFromProvider(ctx context.Context, provider Viewer, recipientKey, subject string, m NewMessage) (threadID string, err error)
	Reply(ctx context.Context, v Viewer, threadID string, m NewMessage) error
	Inbox(ctx context.Context, v Viewer, p Page) (threads []ThreadSummary, next string, err error)
	// Search is Inbox for the threads that match q (see Query), a page at
	// a time, within a time limit.
	Search(ctx context.Context, v Viewer, p Page, q Query) (SearchResult, error)
	// Thread returns the thread and marks its messages read by v.
	Thread(ctx context.Context, v Viewer, threadID string) (Thread, error)
	OpenAttachment(ctx context.Context, v Viewer, attachmentID string) (Attachment, io.ReadCloser, error)
	Recall(ctx context.Context, staff Viewer, messageID string) (threadID string, err error)
	// RecallTarget describes a message staff may withdraw (ErrNotFound
	// when they may not, or it is withdrawn already).
	RecallTarget(ctx context.Context, staff Viewer, messageID string) (RecallTarget, error)
	// Provider is a provider staff share at least one thread with
	// (ErrNotFound otherwise: staff see only the providers they serve).
	Provider(ctx context.Context, staff Viewer, providerID int64) (ProviderCard, error)
	// AddNote seals an internal note on a thread staff may see (audited);
	// ErrNotFound otherwise.
	AddNote(ctx context.Context, staff Viewer, threadID, body string) error
	// SetStatus sets a thread's status (audited); ErrNotFound when staff
	// may not see it.
	SetStatus(ctx context.Context, staff Viewer, threadID string, st Status) error
	// SetStatuses sets the status of each thread staff may see (the others
	// are skipped) and returns how many changed.
	SetStatuses(ctx context.Context, staff Viewer, threadIDs []string, st Status) (int, error)
	// MarkThreadsRead records staff as having read every message of each
	// thread they may see (the others are skipped) and returns how many
	// threads had unread messages.
	MarkThreadsRead(ctx context.Context, staff Viewer, threadIDs []string) (int, error)
	// SetArchived files a provider's thread under "Archived" or back in
	// their inbox (ErrNotFound when it is not theirs).
	SetArchived(ctx context.Context, provider Viewer, threadID string, archived bool) error
	// UnreadThreads counts a provider's inbox threads (not archived) with
	// a message they have not opened.
	UnreadThreads(ctx context.Context, provider Viewer) (int, error)
	// SetAway sets (or, with a zero Away, clears) staff's out of office
	// (audited); AwayOf is a representative's, zero when none is set or it
	// is over.
	// Remind queues a fresh notification to the provider of a message
	// staff sent that waits unopened in the portal (audited): ErrNotFound
	// when staff may not see it, did not send it, or it was withdrawn;
	// ErrAlreadyOpened, ErrSentByEmail, ErrRemindedRecently otherwise.
	// threadID is the message's thread whenever staff may see it.
	Remind(ctx context.Context, staff Viewer, messageID string, every time.Duration) (threadID string, err error)
	SetAway(ctx context.Context, staff Viewer, a Away) error
	AwayOf(ctx context.Context, userID int64) (Away, error)
	// SavedReplies are the saved replies of staff's teams, by team and
	// title. AddSavedReply adds one to a team staff is in (ErrNotInTeam
	// otherwise); DeleteSavedReply removes one of their teams' (ErrNotFound
	// otherwise). Both audited.
	SavedReplies(ctx context.Context, staff Viewer) ([]SavedReply, error)
	AddSavedReply(ctx context.Context, staff Viewer, teamID int64, title, body string) error
	DeleteSavedReply(ctx context.Context, staff Viewer, id string) error
	// The same for an admin (actor) managing any team's: TeamSavedReplies
	// lists one team's, AddTeamSavedReply adds one (ErrNotInTeam when there
	// is no such team), DeleteTeamSavedReply deletes one of that team's
	// (ErrNotFound otherwise). Audited.
	TeamSavedReplies(ctx context.Context, teamID int64) ([]SavedReply, error)
	AddTeamSavedReply(ctx context.Context, admin Viewer, teamID int64, title, body string) error
	DeleteTeamSavedReply(ctx context.Context, admin Viewer, teamID int64, id string) error
	// Signature is a representative's signature ("" when none); SetSignature
	// sets it ("" clears it), audited.
	Signature(ctx context.Context, userID int64) (string, error)
	SetSignature(ctx context.Context, staff Viewer, signature string) error
	// Assign makes the representative with assigneeEmail the thread's
	// owner, or ("") leaves it to its team (audited). ErrNotFound when
	// staff may not see the thread; ErrNotStaff when the address is not an
	// active representative's; ErrNotInTeam when the assignee is not in
	// the thread's team; ErrNoTeam when releasing a thread no team shares.
	Assign(ctx context.Context, staff Viewer, threadID, assigneeEmail string) error
	Recipients(ctx context.Context, provider Viewer) ([]Recipient, error)

	// Teams, managed by admins (actor): every change is audited.
	Teams(ctx context.Context) ([]TeamInfo, error)
	TeamsOf(ctx context.Context, userID int64) ([]Team, error)
	CreateTeam(ctx context.Context, actor Viewer, name, lineOfBusiness string) (int64, error)
	// SetMembership adds (member=true) or removes the representative with
	// email; ErrNotFound when there is no such team, ErrNotStaff when the
	// address is not a representative's.
	SetMembership(ctx context.Context, actor Viewer, teamID int64, email string, member bool) error

	// GrantEmergency gives admin read access to a thread until until, with
	// a reason; ErrNotFound when there is no such thread.
	GrantEmergency(ctx context.Context, admin Viewer, threadID, reason string, until time.Time) error
	EmergencyGrants(ctx context.Context, limit int) ([]EmergencyGrant, error)
}

// EmergencyGrant is an admin's time-boxed right to read one thread.
type EmergencyGrant struct {
	ID         int64
	AdminEmail string
	ThreadID   string
	Reason     string
	GrantedAt  time.Time
	ExpiresAt  time.Time
}

// Active reports whether the grant still lets its admin read at now.
func (g EmergencyGrant) Active(now time.Time) bool { return now.Before(g.ExpiresAt) }

// TeamInfo is a team with its members.
type TeamInfo struct {
	Team
	Members []Member
}

// Member is a representative in a team.
type Member struct {
	UserID int64
	Name   string
	Email  string
}
