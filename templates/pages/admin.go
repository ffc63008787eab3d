package pages

import "github.com/healthnet/secureportal/templates/layout"

// AdminUsersView feeds the user list of the admin console.
type AdminUsersView struct {
	Chrome  layout.Chrome
	Query   string
	Role    string
	Status  string
	Roles   []Option
	States  []Option
	Users   []AdminUserRow
	NextURL string
	Notice  string
}

// AdminUserRow is one line of the user list.
type AdminUserRow struct {
	URL, Email, Name, Role, Status, LastLogin string
	// Factor says what the user signs in with beyond the password.
	Factor string
}

// AdminUserView is one account with what an admin can do to it.
type AdminUserView struct {
	Chrome    layout.Chrome
	Email     string
	Name      string
	Role      string
	Status    string
	Factor    string
	LockNote  string
	LastLogin string
	Created   string
	Failed    string
	Teams     []string
	Actions   []ActionLink
	RoleURL   string
	Roles     []Option
	Notice    string
	Problem   string
	AuditURL  string
}

// ActionLink leads to an action's confirmation page.
type ActionLink struct {
	Label, Description, URL string
}

// AdminConfirmView asks an admin to confirm an action and say why.
type AdminConfirmView struct {
	Chrome      layout.Chrome
	Title       string
	Description string
	UserEmail   string
	FormAction  string
	Hidden      []Option // name/value pairs carried by the form
	Reason      Field
	Problems    []Problem
	CancelURL   string
	Danger      bool
}

// AdminStaffView feeds the "add a representative or admin" form.
type AdminStaffView struct {
	Chrome   layout.Chrome
	Email    Field
	Name     Field
	Role     string
	RoleErr  string
	Teams    []Option
	Problems []Problem
}

// AdminTeamsView lists teams and their members.
type AdminTeamsView struct {
	Chrome   layout.Chrome
	Teams    []AdminTeam
	Name     Field
	LOB      Field
	Problems []Problem
	Notice   string
	Problem  string
}

// AdminTeam is a team on the teams page.
type AdminTeam struct {
	ID, Name, LineOfBusiness string
	AddURL, RemoveURL        string
	Members                  []Option // Value: email, Label: name
	// RepliesURL is the team's saved replies.
	RepliesURL string
}

// AdminAuditView is the audit log viewer.
type AdminAuditView struct {
	Chrome   layout.Chrome
	Actor    string
	Subject  string
	Action   string
	Thread   string
	From, To string
	Entries  []AuditRow
	NextURL  string
	CSVURL   string
	Problem  string
}

// AuditRow is one audit event, formatted.
type AuditRow struct {
	ID, At, Actor, Action, Target, IP, Detail string
	Highlight                                 bool // emergency access
}

// AdminKeysView shows the key-encryption keys and what they wrap.
type AdminKeysView struct {
	Chrome   layout.Chrome
	Versions []KeyRow
	Pending  string // DEKs not yet on the current version
	Notice   string
}

// KeyRow is one KEK version.
type KeyRow struct {
	Version, State, Created, DEKs string
	Current                       bool
}

// ReauthView asks an admin for their password again.
type ReauthView struct {
	Chrome layout.Chrome
	Email  string
	Pass   Field
	// Code is asked for too when the admin has an authenticator app.
	Code    *Field
	Next    string
	Failure string
}

// AdminEmergencyView is the emergency-access page: the form to grant it and
// the list of every grant, which the security officer reviews.
type AdminEmergencyView struct {
	Chrome    layout.Chrome
	Thread    Field
	Reason    Field
	Duration  Field
	Durations []Option
	Problems  []Problem
	Grants    []EmergencyRow
}

// EmergencyRow is one grant.
type EmergencyRow struct {
	Admin, Thread, Reason, Granted, Expires, State string
	ReadURL                                        string // while active
}
