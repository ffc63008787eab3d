package pages

import (
	"regexp"

	"github.com/healthnet/secureportal/templates/layout"
)

// InboxView feeds the provider inbox and the staff view.
type InboxView struct {
	Chrome     layout.Chrome
	Title      string
	Staff      bool
	ComposeURL string
	Filters    []FilterLink
	Threads    []ThreadRow
	NextURL    string
	// EmptyTitle and EmptyText explain what will appear here.
	EmptyTitle string
	EmptyText  string
	Notice     string
	// Provider, on a provider's page for staff, is the account card
	// shown above their threads.
	Provider *ProviderCardView
	// BulkAction, for staff, puts a checkbox on each row and a "Mark done"
	// button that posts the ticked ones here; BulkProblem says what was
	// wrong with the last try.
	BulkAction  string
	BulkProblem string
	// BulkReadAction, beside BulkAction, marks the ticked ones read.
	BulkReadAction string
	// Search is the search box above the list (nil: none).
	Search *SearchForm
}

// SearchForm is the inbox's search: a GET form whose fields are the
// public contract of GET /inbox and GET /staff (DESIGN.md §8).
type SearchForm struct {
	Action string
	Filter string // the current tab, kept by the search
	Query  string // q
	Hint   string
	// TitlesOnly: in=titles (subjects and names only).
	TitlesOnly bool
	Teams      []Option // team; empty hides it
	From, To   string   // from, to: YYYY-MM-DD
	// Attachment (attachment=1) and Unopened (unopened=1) are staff's;
	// UnopenedLabel "" hides the latter.
	Staff                bool
	Attachment, Unopened bool
	UnopenedLabel        string
	// Open shows the further filters (one of them is in use).
	Open bool
	// ClearURL, when searching, goes back to the plain list.
	ClearURL string
	Problem  string
	// Summary says what the search found and how far back it looked.
	Summary string
}

// ProviderCardView is a provider's account as staff see it; ResendAction
// ("" hides it) emails a pending provider a fresh registration link.
type ProviderCardView struct {
	Name, Email, State, LastLogin string
	// From the provider's profile; "" leaves a line out.
	Practice, Phone, Language string
	ResendAction              string
	// Group is the practice the provider's account belongs to (as its
	// mailbox or a member); nil when none.
	Group *ProviderPractice
}

// ProviderPractice is a provider's practice as staff see it.
type ProviderPractice struct {
	Name, NPI, County, LineOfBusiness string
	// Address is the practice's shared address; WriteURL composes to it.
	Address, WriteURL string
	// Mailbox says this provider's account is that address.
	Mailbox bool
}

// FilterLink is one tab of the staff inbox's filters.
type FilterLink struct {
	Label   string
	URL     string
	Current bool
}

// ThreadRow is one line of an inbox.
type ThreadRow struct {
	ID          string
	URL         string
	Subject     string
	Counterpart string
	Detail      string // staff: the provider's email; provider: the team
	When        string
	WhenISO     string
	Unread      int
	Awaiting    bool
	// Done marks a conversation a representative closed (staff only).
	Done bool
	// NotOpened says how long a staff message has waited unopened ("").
	NotOpened string
}

// ThreadView feeds a conversation page.
type ThreadView struct {
	// Kept are files kept from a reply posted after the session ended.
	Kept KeptFiles
	// SavedReplies (staff) offer the team's ready answers for the reply
	// box: a GET form to SavedAction with field saved.
	SavedReplies []Option
	SavedAction  string
	Chrome       layout.Chrome
	Subject      string
	With         string
	WithURL      string // staff: the provider's page
	Messages     []MessageView
	ReplyAction  string
	Reply        Field
	Withdrawn    bool
	// ExpiredNote replaces the reply form when retention destroyed the
	// conversation; ComposeURL offers the way on.
	ExpiredNote string
	ComposeURL  string
	// ReadOnly hides the reply form (an admin's emergency access).
	ReadOnly bool
	// History (staff) is the owner and status changes, oldest first.
	History []HistoryLine
	// ArchiveAction (a provider's thread) files it under "Archived", or
	// with Archived set, back in the inbox.
	ArchiveAction string
	Archived      bool
	Notice        string
	Limits        string
	Problems      []Problem
	// Notes are the team's internal notes (staff only: nil for the
	// provider); NoteAction is where a new one is posted ("" hides the form).
	Notes      []NoteView
	NoteAction string
	Note       Field
	// Status is the thread's status in words; StatusAction ("" hides it)
	// is where a representative changes it, choosing from StatusOptions.
	Status        string
	StatusAction  string
	StatusField   Field
	StatusOptions []Option
	// Owner says who owns the thread; AssignAction ("" hides the forms) is
	// where it is handed over (Assignee), taken (TakeAs: the viewer's
	// email, "" when they own it) or left to the team (CanRelease).
	Owner        string
	AssignAction string
	Assignee     Field
	TakeAs       string
	CanRelease   bool
}

// NoteView is one internal note, ready to show.
type NoteView struct {
	Author  string
	When    string
	WhenISO string
	Body    []TextPart
}

// MessageView is one message of a thread, ready to show.
type MessageView struct {
	ID         string
	Sender     string
	FromViewer bool
	When       string
	WhenISO    string
	Body       []TextPart
	// Quoted is the earlier history an emailed reply carried below its own
	// words (SplitQuoted), folded on the page.
	Quoted      []TextPart
	Withdrawn   bool
	ExpiredNote string
	Attachments []AttachmentLink
	// ReadNote is "Opened 2026-03-04 09:12" or "Not opened yet" on the
	// viewer's own messages; empty otherwise.
	ReadNote  string
	RecallURL string
	// RemindAction (staff, own message unopened in the portal) emails the
	// provider a fresh notification.
	RemindAction string
	// Deliveries say, to staff, how the message reached the provider:
	// "Delivered by TLS 1.3 to mx.clinic.example, certificate verified,
	// 10:02" or "Waiting in the portal: ... notification sent 10:02".
	Deliveries []string
	// SentByEmail is true when a copy went by TLS to the provider's mail
	// server, which withdrawing cannot take back.
	SentByEmail bool
}

// AttachmentLink is a downloadable file.
type AttachmentLink struct {
	URL  string
	Name string
	Size string
}

// ComposeView feeds a new-message form: staff type an email address,
// providers choose among the recipients they may write to.
type ComposeView struct {
	// Kept are files kept from a message posted after the session ended.
	Kept KeptFiles
	// DeliveryHintURL, on staff compose, answers which way a message to
	// the entered address would go (static/js/delivery-hint.js).
	DeliveryHintURL string
	Chrome          layout.Chrome
	Title           string
	Action          string
	Staff           bool
	To              Field
	Recipients      []Option
	Subject         Field
	Body            Field
	// ExpiresIn and Expiry offer staff an optional lifetime for the message.
	ExpiresIn Field
	Expiry    []Option
	Limits    string
	Problems  []Problem
	// Notice says why the form is already filled (a message kept while
	// its writer signed in again).
	Notice string
}

// Option is one choice of a select.
type Option struct {
	Value, Label string
	Selected     bool
}

// TextPart is a run of message text, or a link within it.
type TextPart struct {
	Text string
	URL  string
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"'()]+[^\s<>"'().,;:!?]`)

// Linkify splits plain text into text and http(s) links. Only http and https
// become links: a javascript: or data: URL stays text.
func Linkify(s string) []TextPart {
	var out []TextPart
	last := 0
	for _, m := range linkPattern.FindAllStringIndex(s, -1) {
		if m[0] > last {
			out = append(out, TextPart{Text: s[last:m[0]]})
		}
		out = append(out, TextPart{Text: s[m[0]:m[1]], URL: s[m[0]:m[1]]})
		last = m[1]
	}
	if last < len(s) {
		out = append(out, TextPart{Text: s[last:]})
	}
	return out
}

func counterpartLabel(staff bool) string {
	if staff {
		return "Provider"
	}
	return "With"
}

// RecallConfirmView asks a representative to confirm withdrawing a message.
type RecallConfirmView struct {
	Chrome      layout.Chrome
	Action      string
	ThreadURL   string
	OnlyMessage bool
	SentByEmail bool
}

// RepliesView feeds the staff page of saved replies and the signature,
// and an admin's page of one team's saved replies.
type RepliesView struct {
	Chrome layout.Chrome
	Notice string
	// ForTeam, on an admin's page, is the team's name: no signature, no
	// choice of team; the form posts to AddAction.
	ForTeam   string
	AddAction string
	Signature Field
	// The form that adds a saved reply; Teams empty when the
	// representative is in no team (nothing can be saved then).
	Teams       []Option
	TeamField   Field
	Title, Body Field
	Problems    []Problem
	Replies     []SavedReplyView
}

// SavedReplyView is one saved reply in the list.
type SavedReplyView struct {
	Team, Title, Body string
	DeleteAction      string
}

// repliesTitle is the replies page's title: the staff's, or the team's.
func repliesTitle(v RepliesView) string {
	if v.ForTeam != "" {
		return "Saved replies of " + v.ForTeam
	}
	return "Saved replies and signature"
}

// HistoryLine is one change in a thread's history.
type HistoryLine struct {
	When, WhenISO, Text string
}

// KeptFiles are the files kept with a message posted after its writer's
// session ended: listed on the form given back, sent with it (field
// kept_files holds their ids).
type KeptFiles struct {
	Names []string // "referral.pdf (120 KB)"
	IDs   string
}
