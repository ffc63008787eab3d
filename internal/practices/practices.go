// Package practices is a physician office's shared mailbox (issue 15): a
// practice is started from the provider account that receives the office's
// secure mail (its mailbox), and everyone the practice's admins invite
// reads and answers that mail with their own account. Membership decides
// access in every messaging query (package postgres, threadScope), so
// leaving or being removed ends it at once.
package practices

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

// Role is a member's part in their practice.
type Role string

const (
	// RoleAdmin invites and removes members.
	RoleAdmin Role = "admin"
	// RoleMember reads and answers the practice's mail.
	RoleMember Role = "member"
)

// Practice is a practice as stored.
type Practice struct {
	ID             int64
	Name           string
	NPI            string // the group's 10-digit National Provider Identifier
	County         string
	LineOfBusiness string // one of LinesOfBusiness
	// MailboxID is the account whose address is the practice's shared
	// address; MailboxEmail that address.
	MailboxID    int64
	MailboxEmail string
	CreatedAt    time.Time
}

// Member is one account of a practice.
type Member struct {
	UserID      int64
	Name, Email string
	Role        Role
	Mailbox     bool // the account that receives the practice's mail
	JoinedAt    time.Time
}

// Invite is an invitation waiting for its invitee.
type Invite struct {
	ID           int64
	PracticeID   int64
	PracticeName string
	UserID       int64  // the invitee's account
	Email        string // the invitee's address
	InvitedBy    string // the inviting member's name
	ExpiresAt    time.Time
}

// LinesOfBusiness are the plan's lines a practice may serve under.
var LinesOfBusiness = []string{"Cal MediConnect", "Medi-Cal", "Medicare Advantage", "Commercial"}

// Audit actions.
const (
	Created       audit.Action = "practice.created"
	Invited       audit.Action = "practice.invited"
	Joined        audit.Action = "practice.joined"
	InviteDropped audit.Action = "practice.invite_dropped"
	Left          audit.Action = "practice.left"
	Removed       audit.Action = "practice.member_removed"
)

// Errors callers branch on.
var (
	ErrNotFound      = errors.New("practices: not found")
	ErrNotAdmin      = errors.New("practices: only the practice's admins may do that")
	ErrInAPractice   = errors.New("practices: the account already belongs to a practice")
	ErrMailboxStays  = errors.New("practices: the mailbox account cannot leave its practice")
	ErrNotAProvider  = errors.New("practices: the address belongs to the plan's staff")
	ErrNPITaken      = errors.New("practices: another practice has this NPI")
	ErrAlreadyInvite = errors.New("practices: already a member or invited")
)

// InviteTTL is how long an invitation waits.
const InviteTTL = 14 * 24 * time.Hour

// InviteEmail asks the mail worker to tell an invitee of their
// invitation; Register says their account is new and the email carries
// its registration link (minted by the worker, as accounts.LinkEmail's).
type InviteEmail struct {
	InviteID int64 `json:"invite_id"`
	Register bool  `json:"register,omitempty"`
}

func (InviteEmail) Kind() string { return "practice_invite_email" }

// Store keeps practices. Every change is made with its audit event in one
// transaction.
type Store interface {
	// Membership is the practice u belongs to and their role (ErrNotFound
	// when none).
	Membership(ctx context.Context, userID int64) (Practice, Role, error)
	// PracticeOf is the practice whose mailbox or member the account is
	// (for staff: "this provider is with ..."); ErrNotFound when none.
	PracticeOf(ctx context.Context, userID int64) (Practice, error)
	Members(ctx context.Context, practiceID int64) ([]Member, error)
	Invites(ctx context.Context, practiceID int64) ([]Invite, error)
	// InvitesFor are the live invitations to an account.
	InvitesFor(ctx context.Context, userID int64) ([]Invite, error)
	// Invitation is one live invitation (ErrNotFound when answered,
	// withdrawn or expired).
	Invitation(ctx context.Context, id int64) (Invite, error)
	// Create starts p with its mailbox as its first admin (ErrInAPractice,
	// ErrNPITaken).
	Create(ctx context.Context, p Practice, ev audit.Event) (Practice, error)
	// Invite invites the provider at email (creating a pending account for
	// an address the portal does not know yet, with its registration link
	// emailed with the invitation); ErrNotAProvider, ErrAlreadyInvite.
	Invite(ctx context.Context, practiceID int64, email string, by int64, expires time.Time, ev audit.Event) error
	// Accept makes userID a member through their invitation (ErrNotFound
	// when it is not theirs or has expired, ErrInAPractice).
	Accept(ctx context.Context, inviteID, userID int64, ev audit.Event) error
	// DropInvite deletes an invitation: declined by its invitee
	// (byInvitee) or withdrawn by an admin of its practice.
	DropInvite(ctx context.Context, inviteID, userID int64, byInvitee bool, ev audit.Event) error
	// Remove takes userID out of practiceID (ErrMailboxStays, ErrNotFound).
	Remove(ctx context.Context, practiceID, userID int64, ev audit.Event) error
}

// Service applies the practice rules.
type Service struct {
	store Store
	now   func() time.Time
}

// New is the practice service over store.
func New(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
}

// adminPractice is u's practice when u is one of its admins (ErrNotAdmin
// for a member, ErrNotFound for a provider in none).
func (s *Service) adminPractice(ctx context.Context, u accounts.User) (Practice, error) {
	p, role, err := s.Membership(ctx, u)
	if err != nil {
		return Practice{}, err
	}
	if role != RoleAdmin {
		return Practice{}, ErrNotAdmin
	}
	return p, nil
}

// Membership is the practice of u, if any (ErrNotFound when none).
func (s *Service) Membership(ctx context.Context, u accounts.User) (Practice, Role, error) {
	if u.Role != accounts.RoleProvider {
		return Practice{}, "", ErrNotFound
	}
	return s.store.Membership(ctx, u.ID)
}

// PracticeOf is the practice of a provider, for staff.
func (s *Service) PracticeOf(ctx context.Context, providerID int64) (Practice, error) {
	return s.store.PracticeOf(ctx, providerID)
}

// Members and pending invitations of u's practice.
func (s *Service) Members(ctx context.Context, p Practice) ([]Member, []Invite, error) {
	members, err := s.store.Members(ctx, p.ID)
	if err != nil {
		return nil, nil, err
	}
	invites, err := s.store.Invites(ctx, p.ID)
	return members, invites, err
}

// InvitesFor are the invitations waiting for u.
func (s *Service) InvitesFor(ctx context.Context, u accounts.User) ([]Invite, error) {
	if u.Role != accounts.RoleProvider {
		return nil, nil
	}
	return s.store.InvitesFor(ctx, u.ID)
}

// Invitation is one live invitation, for its email.
func (s *Service) Invitation(ctx context.Context, id int64) (Invite, error) {
	return s.store.Invitation(ctx, id)
}

// Start checks p and starts it with u's account as its mailbox and first
// admin.
func (s *Service) Start(ctx context.Context, u accounts.User, p Practice, ip string) (Practice, error) {
	if u.Role != accounts.RoleProvider {
		return Practice{}, ErrNotFound
	}
	p.Name, p.NPI, p.County = strings.TrimSpace(p.Name), strings.Join(strings.Fields(p.NPI), ""), strings.TrimSpace(p.County)
	errs := accounts.FieldErrors{}
	if msg := textProblem(p.Name, "the practice's name", 200); msg != "" {
		errs["name"] = msg
	}
	if msg := NPIProblem(p.NPI); msg != "" {
		errs["npi"] = msg
	}
	if msg := textProblem(p.County, "the county", 100); msg != "" {
		errs["county"] = msg
	}
	known := false
	for _, l := range LinesOfBusiness {
		known = known || l == p.LineOfBusiness
	}
	if !known {
		errs["line_of_business"] = "Choose the line of business the practice serves."
	}
	if len(errs) > 0 {
		return Practice{}, errs
	}
	p.MailboxID = u.ID
	created, err := s.store.Create(ctx, p, audit.Event{ActorID: u.ID, Action: Created, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"npi": p.NPI}})
	switch {
	case errors.Is(err, ErrNPITaken):
		return Practice{}, accounts.FieldErrors{"npi": "Another practice in the portal has this NPI. Ask its admin to invite you instead."}
	case err != nil:
		return Practice{}, err
	}
	return created, nil
}

// Invite asks the provider at rawEmail to join admin's practice.
func (s *Service) Invite(ctx context.Context, admin accounts.User, rawEmail, ip string) error {
	p, err := s.adminPractice(ctx, admin)
	if err != nil {
		return err
	}
	email, msg := accounts.NormalizeEmail(rawEmail)
	if msg != "" {
		return accounts.FieldErrors{"email": msg}
	}
	err = s.store.Invite(ctx, p.ID, email, admin.ID, s.now().Add(InviteTTL), audit.Event{ActorID: admin.ID, Action: Invited,
		TargetType: "practice", TargetID: fmt.Sprint(p.ID), IP: ip})
	switch {
	case errors.Is(err, ErrNotAProvider):
		return accounts.FieldErrors{"email": "That address belongs to the plan's staff, not to a provider. Enter a colleague's address."}
	case errors.Is(err, ErrAlreadyInvite):
		return accounts.FieldErrors{"email": "That address is already a member of the practice or has an invitation waiting."}
	case errors.Is(err, ErrInAPractice):
		return accounts.FieldErrors{"email": "That address already belongs to another practice; they must leave it first."}
	}
	return err
}

// Accept joins u to the practice of their invitation.
func (s *Service) Accept(ctx context.Context, u accounts.User, inviteID int64, ip string) error {
	if u.Role != accounts.RoleProvider {
		return ErrNotFound
	}
	return s.store.Accept(ctx, inviteID, u.ID, audit.Event{ActorID: u.ID, Action: Joined, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"invite_id": inviteID}})
}

// Decline drops an invitation to u.
func (s *Service) Decline(ctx context.Context, u accounts.User, inviteID int64, ip string) error {
	return s.store.DropInvite(ctx, inviteID, u.ID, true, audit.Event{ActorID: u.ID, Action: InviteDropped, TargetType: "user",
		TargetID: fmt.Sprint(u.ID), IP: ip, Detail: map[string]any{"invite_id": inviteID, "declined": true}})
}

// Withdraw drops an invitation of admin's practice.
func (s *Service) Withdraw(ctx context.Context, admin accounts.User, inviteID int64, ip string) error {
	p, err := s.adminPractice(ctx, admin)
	if err != nil {
		return err
	}
	return s.store.DropInvite(ctx, inviteID, admin.ID, false, audit.Event{ActorID: admin.ID, Action: InviteDropped, TargetType: "practice",
		TargetID: fmt.Sprint(p.ID), IP: ip, Detail: map[string]any{"invite_id": inviteID}})
}

// Leave takes u out of their practice.
func (s *Service) Leave(ctx context.Context, u accounts.User, ip string) error {
	p, _, err := s.Membership(ctx, u)
	if err != nil {
		return err
	}
	return s.store.Remove(ctx, p.ID, u.ID, audit.Event{ActorID: u.ID, Action: Left, TargetType: "practice", TargetID: fmt.Sprint(p.ID), IP: ip,
		Detail: map[string]any{"user_id": u.ID}})
}

// RemoveMember takes memberID out of admin's practice.
func (s *Service) RemoveMember(ctx context.Context, admin accounts.User, memberID int64, ip string) error {
	p, err := s.adminPractice(ctx, admin)
	if err != nil {
		return err
	}
	return s.store.Remove(ctx, p.ID, memberID, audit.Event{ActorID: admin.ID, Action: Removed, TargetType: "practice", TargetID: fmt.Sprint(p.ID), IP: ip,
		Detail: map[string]any{"user_id": memberID}})
}

// NPIProblem says what is wrong with a National Provider Identifier: ten
// digits whose last is the Luhn check digit over "80840" and the first
// nine (CMS, "Requirements for NPI check digit"); "" when it is right.
func NPIProblem(npi string) string {
	if len(npi) != 10 || strings.IndexFunc(npi, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return "Enter the practice's NPI: 10 digits, for example 1234567893."
	}
	sum := 24 // the constant 80840 prefix's contribution
	for i := 8; i >= 0; i-- {
		d := int(npi[i] - '0')
		if (8-i)%2 == 0 { // every other digit from the right of the first nine is doubled
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if (10-sum%10)%10 != int(npi[9]-'0') {
		return "That NPI's check digit is wrong; please check it against the NPPES registry."
	}
	return ""
}

// textProblem checks a required one-line text field.
func textProblem(s, what string, max int) string {
	switch {
	case s == "":
		return "Enter " + what + "."
	case utf8.RuneCountInString(s) > max:
		return fmt.Sprintf("Keep %s to %d characters.", what, max)
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) }) >= 0:
		return "That contains characters we cannot show. Please retype it."
	}
	return ""
}
