package pages

import "github.com/healthnet/secureportal/templates/layout"

// PracticeView feeds /practice: the viewer's practice, or the invitations
// waiting for them and the form to start one.
type PracticeView struct {
	Chrome layout.Chrome
	Notice string
	// Practice is the viewer's practice; nil when they have none.
	Practice *PracticeDetails
	Members  []PracticeMember
	Invites  []PracticeInvite // sent by the practice, not yet answered
	Invite   Field            // the invitation form's address (admins)
	// Received are the invitations waiting for a viewer without a practice.
	Received []PracticeInvite
	// Start is the form to start a practice from the viewer's account.
	Start PracticeStartForm
}

// PracticeDetails describe a practice to its members.
type PracticeDetails struct {
	Name, NPI, County, LineOfBusiness string
	// MailboxEmail is the shared address the plan writes to.
	MailboxEmail string
	Admin        bool // the viewer may invite and remove
	Mailbox      bool // the viewer's account is the mailbox (cannot leave)
}

// PracticeMember is one row of the members' list.
type PracticeMember struct {
	ID          string
	Name, Email string
	Role        string
	Mailbox     bool
	You         bool
}

// PracticeInvite is one invitation, sent or received.
type PracticeInvite struct {
	ID                  string
	Practice, Email, By string
	Expires             string
}

// PracticeStartForm is the form to start a practice.
type PracticeStartForm struct {
	Email                             string // the address that becomes the shared one
	Name, NPI, County, LineOfBusiness Field
	Lines                             []Option
}
