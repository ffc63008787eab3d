package messaging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/accounts"
)

// Service validates what people type and hands it to the Store.
type Service struct {
	store Store
}

// NewService returns a Service over store.
func NewService(store Store) *Service { return &Service{store: store} }

// FieldErrors are problems the sender can fix, keyed by form field name.
type FieldErrors = accounts.FieldErrors

const (
	maxSubjectRunes = 200
	maxBodyRunes    = 50000
)

func checkSubject(subject string, errs FieldErrors) string {
	subject = strings.TrimSpace(subject)
	switch {
	case subject == "":
		errs["subject"] = "Enter a subject."
	case utf8.RuneCountInString(subject) > maxSubjectRunes:
		errs["subject"] = "Use at most 200 characters for the subject."
	case strings.IndexFunc(subject, unicode.IsControl) >= 0:
		errs["subject"] = "The subject contains characters we cannot show. Please retype it."
	}
	return subject
}

func checkBody(body string, errs FieldErrors) string {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	switch {
	case strings.TrimSpace(body) == "":
		errs["body"] = "Write a message."
	case utf8.RuneCountInString(body) > maxBodyRunes:
		errs["body"] = "The message is too long: use at most 50,000 characters, or attach a file."
	}
	return body
}

// ExpiryChoices are the optional per-message lifetimes staff may set at
// compose (days); the retention job destroys the message after that.
var ExpiryChoices = []int{7, 30, 90}

// StartToProvider is staff composing to a provider's email address; a new
// address becomes a pending provider account. expiresInDays, when not 0,
// must be one of ExpiryChoices.
func (s *Service) StartToProvider(ctx context.Context, staff Viewer, to, subject, body string, expiresInDays int, files Uploads) (string, error) {
	errs := FieldErrors{}
	email, msg := accounts.NormalizeEmail(to)
	if msg != "" {
		errs["to"] = msg
	}
	subject, body = checkSubject(subject, errs), checkBody(body, errs)
	m := NewMessage{Body: body, Files: files}
	if expiresInDays != 0 {
		if !slices.Contains(ExpiryChoices, expiresInDays) {
			errs["expires_in"] = "Choose one of the listed periods."
		}
		m.ExpiresAt = time.Now().Add(time.Duration(expiresInDays) * 24 * time.Hour)
	}
	if len(errs) > 0 {
		return "", errs
	}
	return s.store.StartThreadToProvider(ctx, staff, email, subject, m)
}

// StartFromProvider is a provider composing to a representative or team
// they may write to; anything else in the form is refused.
func (s *Service) StartFromProvider(ctx context.Context, provider Viewer, to, subject, body string, files Uploads) (string, error) {
	errs := FieldErrors{}
	if to == "" {
		errs["to"] = "Choose whom to write to."
	}
	subject, body = checkSubject(subject, errs), checkBody(body, errs)
	if len(errs) > 0 {
		return "", errs
	}
	return s.store.StartThreadFromProvider(ctx, provider, to, subject, NewMessage{Body: body, Files: files})
}

// Reply adds a message to a thread the viewer may see.
func (s *Service) Reply(ctx context.Context, v Viewer, threadID, body string, files Uploads) error {
	if !ValidID(threadID) {
		return ErrNotFound
	}
	errs := FieldErrors{}
	body = checkBody(body, errs)
	if len(errs) > 0 {
		return errs
	}
	return s.store.Reply(ctx, v, threadID, NewMessage{Body: body, Files: files})
}

func (s *Service) Inbox(ctx context.Context, v Viewer, p Page) ([]ThreadSummary, string, error) {
	return s.store.Inbox(ctx, v, p)
}

// Search finds the viewer's threads that match q (an empty q is Inbox).
func (s *Service) Search(ctx context.Context, v Viewer, p Page, q Query) (SearchResult, error) {
	if q.Empty() {
		threads, next, err := s.store.Inbox(ctx, v, p)
		return SearchResult{Threads: threads, Next: next}, err
	}
	p.WithArchived = true // a provider's search looks through what they filed too
	return s.store.Search(ctx, v, p, q)
}

func (s *Service) Thread(ctx context.Context, v Viewer, id string) (Thread, error) {
	if !ValidID(id) {
		return Thread{}, ErrNotFound
	}
	return s.store.Thread(ctx, v, id)
}

func (s *Service) OpenAttachment(ctx context.Context, v Viewer, id string) (Attachment, io.ReadCloser, error) {
	if !ValidID(id) {
		return Attachment{}, nil, ErrNotFound
	}
	return s.store.OpenAttachment(ctx, v, id)
}

func (s *Service) Recall(ctx context.Context, staff Viewer, messageID string) (string, error) {
	if !ValidID(messageID) {
		return "", ErrNotFound
	}
	return s.store.Recall(ctx, staff, messageID)
}

func (s *Service) Recipients(ctx context.Context, provider Viewer) ([]Recipient, error) {
	return s.store.Recipients(ctx, provider)
}

// ValidID accepts only the canonical UUID text, so malformed ids from the
// URL never reach SQL (where they would be a 500, not a 404).
func ValidID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i, c := range id {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

func (s *Service) Teams(ctx context.Context) ([]TeamInfo, error) { return s.store.Teams(ctx) }

func (s *Service) TeamsOf(ctx context.Context, userID int64) ([]Team, error) {
	return s.store.TeamsOf(ctx, userID)
}

// CreateTeam adds a team, e.g. "Provider Services – San Diego County".
func (s *Service) CreateTeam(ctx context.Context, actor Viewer, name, lineOfBusiness string) (int64, error) {
	errs := FieldErrors{}
	name, lineOfBusiness = strings.TrimSpace(name), strings.TrimSpace(lineOfBusiness)
	switch {
	case name == "":
		errs["name"] = "Enter the team's name."
	case utf8.RuneCountInString(name) > 120 || strings.IndexFunc(name, unicode.IsControl) >= 0:
		errs["name"] = "Use at most 120 printable characters."
	}
	if utf8.RuneCountInString(lineOfBusiness) > 120 {
		errs["line_of_business"] = "Use at most 120 characters."
	}
	if len(errs) > 0 {
		return 0, errs
	}
	return s.store.CreateTeam(ctx, actor, name, lineOfBusiness)
}

func (s *Service) SetMembership(ctx context.Context, actor Viewer, teamID int64, email string, member bool) error {
	e, msg := accounts.NormalizeEmail(email)
	if msg != "" {
		return FieldErrors{"email": msg}
	}
	return s.store.SetMembership(ctx, actor, teamID, e, member)
}

// EmergencyDurations are the lengths of emergency access an admin may
// choose: long enough to deal with an emergency, short enough to expire
// before it is forgotten.
var EmergencyDurations = []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour}

// GrantEmergency gives an admin time-boxed read access to one thread
// (HIPAA 164.312(a)(2)(ii) emergency access procedure). It is audited and
// listed for the security officer; it expires by itself.
func (s *Service) GrantEmergency(ctx context.Context, admin Viewer, threadID, reason string, d time.Duration, now time.Time) error {
	errs := FieldErrors{}
	reason = strings.TrimSpace(reason)
	if !ValidID(strings.TrimSpace(threadID)) {
		errs["thread"] = "Enter the thread's id (it is in the thread's address, e.g. 3f2a9c1b-0d4e-4c55-9a61-7b2e8f0c1d2e)."
	}
	if reason == "" {
		errs["reason"] = "Say why emergency access is needed."
	}
	if !slices.Contains(EmergencyDurations, d) {
		errs["duration"] = "Choose one of the listed durations."
	}
	if len(errs) > 0 {
		return errs
	}
	return s.store.GrantEmergency(ctx, admin, strings.TrimSpace(threadID), reason, now.Add(d))
}

func (s *Service) EmergencyGrants(ctx context.Context) ([]EmergencyGrant, error) {
	return s.store.EmergencyGrants(ctx, 200)
}

const maxNoteRunes = 5000

// AddNote leaves an internal note on a thread for the team: staff only,
// sealed like a message, never emailed or shown to the provider.
func (s *Service) AddNote(ctx context.Context, staff Viewer, threadID, note string) error {
	if !staff.Staff || !ValidID(threadID) {
		return ErrNotFound
	}
	note = strings.TrimSpace(strings.ReplaceAll(note, "\r\n", "\n"))
	switch {
	case note == "":
		return FieldErrors{"note": "Write the note."}
	case utf8.RuneCountInString(note) > maxNoteRunes:
		return FieldErrors{"note": "Use at most 5,000 characters for a note."}
	}
	return s.store.AddNote(ctx, staff, threadID, note)
}

// SetStatus marks a thread open, waiting on the provider, or done.
func (s *Service) SetStatus(ctx context.Context, staff Viewer, threadID, status string) error {
	if !staff.Staff || !ValidID(threadID) {
		return ErrNotFound
	}
	st, ok := ParseStatus(status)
	if !ok {
		return FieldErrors{"status": "Choose open, waiting on the provider, or done."}
	}
	return s.store.SetStatus(ctx, staff, threadID, st)
}

// Assign hands a thread to a representative (by email), or to its team
// when assigneeEmail is empty.
func (s *Service) Assign(ctx context.Context, staff Viewer, threadID, assigneeEmail string) error {
	if !staff.Staff || !ValidID(threadID) {
		return ErrNotFound
	}
	email := ""
	if strings.TrimSpace(assigneeEmail) != "" {
		var msg string
		if email, msg = accounts.NormalizeEmail(assigneeEmail); msg != "" {
			return FieldErrors{"assignee": msg}
		}
	}
	switch err := s.store.Assign(ctx, staff, threadID, email); {
	case errors.Is(err, ErrNotStaff):
		return FieldErrors{"assignee": "That address is not an active representative's."}
	case errors.Is(err, ErrNotInTeam):
		return FieldErrors{"assignee": "That representative is not in this conversation's team; hand it to a teammate."}
	case errors.Is(err, ErrNoTeam):
		return FieldErrors{"assignee": "No team shares this conversation, so it cannot be left unassigned: hand it to a colleague instead."}
	default:
		return err
	}
}

// RecallTarget describes a message before staff confirm withdrawing it.
func (s *Service) RecallTarget(ctx context.Context, staff Viewer, messageID string) (RecallTarget, error) {
	if !ValidID(messageID) {
		return RecallTarget{}, ErrNotFound
	}
	return s.store.RecallTarget(ctx, staff, messageID)
}

// Provider is the provider page's account card, for staff who share a
// thread with them.
func (s *Service) Provider(ctx context.Context, staff Viewer, providerID int64) (ProviderCard, error) {
	if !staff.Staff || staff.Emergency {
		return ProviderCard{}, ErrNotFound
	}
	return s.store.Provider(ctx, staff, providerID)
}

// maxBulk bounds one bulk change (a page of the inbox is 25).
const maxBulk = 100

// MarkDone marks several threads done at once (the inbox's checkboxes);
// ids staff may not see are skipped. It returns how many changed.
func (s *Service) MarkDone(ctx context.Context, staff Viewer, threadIDs []string) (int, error) {
	ids, err := bulkIDs(staff, threadIDs, "done")
	if err != nil {
		return 0, err
	}
	return s.store.SetStatuses(ctx, staff, ids, StatusDone)
}

// MarkRead marks every message of several threads read by staff, as
// opening each would (read receipts, audited); ids staff may not see are
// skipped. It returns how many threads had unread messages.
func (s *Service) MarkRead(ctx context.Context, staff Viewer, threadIDs []string) (int, error) {
	ids, err := bulkIDs(staff, threadIDs, "read")
	if err != nil {
		return 0, err
	}
	return s.store.MarkThreadsRead(ctx, staff, ids)
}

// SetArchived files a provider's own thread under "Archived" (or back).
func (s *Service) SetArchived(ctx context.Context, provider Viewer, threadID string, archived bool) error {
	if provider.Staff || provider.Emergency || !ValidID(threadID) {
		return ErrNotFound
	}
	return s.store.SetArchived(ctx, provider, threadID, archived)
}

// UnreadThreads counts a provider's inbox threads with a message not opened.
func (s *Service) UnreadThreads(ctx context.Context, provider Viewer) (int, error) {
	return s.store.UnreadThreads(ctx, provider)
}

// ReminderEvery is how often staff may remind a provider of one message.
const ReminderEvery = 24 * time.Hour

// Remind emails the provider a fresh link to a message of staff's that
// waits unopened in the portal, at most once per ReminderEvery.
func (s *Service) Remind(ctx context.Context, staff Viewer, messageID string) (threadID string, err error) {
	if !staff.Staff || !ValidID(messageID) {
		return "", ErrNotFound
	}
	return s.store.Remind(ctx, staff, messageID, ReminderEvery)
}

// MaxAway is the longest out of office one can set at once.
const MaxAway = 366 * 24 * time.Hour

// SetAway sets staff's out of office (a zero Away clears it). now is the
// clock of the request, to refuse a period that is already over.
func (s *Service) SetAway(ctx context.Context, staff Viewer, a Away, now time.Time) error {
	if !staff.Staff {
		return ErrNotFound
	}
	if !a.IsZero() {
		switch {
		case !a.Until.After(a.From):
			return FieldErrors{"away_until": "The last day away must be on or after the first."}
		case !a.Until.After(now):
			return FieldErrors{"away_until": "That day has passed; choose a day from today on."}
		case a.Until.Sub(a.From) > MaxAway:
			return FieldErrors{"away_until": "Set at most a year at a time."}
		}
	}
	return s.store.SetAway(ctx, staff, a)
}

// AwayOf is a representative's out of office (zero: none, or over).
func (s *Service) AwayOf(ctx context.Context, userID int64) (Away, error) {
	return s.store.AwayOf(ctx, userID)
}

// Limits of the workbench's own texts.
const (
	MaxSavedReplyTitle = 100
	MaxSignature       = 500
)

// SavedReplies are the saved replies of staff's teams.
func (s *Service) SavedReplies(ctx context.Context, staff Viewer) ([]SavedReply, error) {
	if !staff.Staff {
		return nil, ErrNotFound
	}
	return s.store.SavedReplies(ctx, staff)
}

// AddSavedReply saves a ready answer for one of staff's teams.
func (s *Service) AddSavedReply(ctx context.Context, staff Viewer, teamID int64, title, body string) error {
	if !staff.Staff {
		return ErrNotFound
	}
	return addSavedReply(title, body, func(title, body string) error { return s.store.AddSavedReply(ctx, staff, teamID, title, body) })
}

// AddTeamSavedReply is AddSavedReply for an admin, for any team.
func (s *Service) AddTeamSavedReply(ctx context.Context, admin Viewer, teamID int64, title, body string) error {
	return addSavedReply(title, body, func(title, body string) error { return s.store.AddTeamSavedReply(ctx, admin, teamID, title, body) })
}

// TeamSavedReplies are one team's saved replies (for an admin).
func (s *Service) TeamSavedReplies(ctx context.Context, teamID int64) ([]SavedReply, error) {
	return s.store.TeamSavedReplies(ctx, teamID)
}

// DeleteTeamSavedReply deletes one of a team's saved replies (an admin).
func (s *Service) DeleteTeamSavedReply(ctx context.Context, admin Viewer, teamID int64, id string) error {
	if !ValidID(id) {
		return ErrNotFound
	}
	return s.store.DeleteTeamSavedReply(ctx, admin, teamID, id)
}

// addSavedReply checks a saved reply's title and body and saves them.
func addSavedReply(title, body string, save func(title, body string) error) error {
	title = strings.TrimSpace(title)
	errs := FieldErrors{}
	switch n := utf8.RuneCountInString(title); {
	case n == 0:
		errs["title"] = "Enter a title, for example “Documents received”."
	case n > MaxSavedReplyTitle:
		errs["title"] = fmt.Sprintf("Keep the title to %d characters.", MaxSavedReplyTitle)
	case strings.IndexFunc(title, unicode.IsControl) >= 0:
		errs["title"] = "The title contains characters we cannot show. Please retype it."
	}
	body = strings.TrimSpace(checkBody(body, errs))
	if len(errs) > 0 {
		return errs
	}
	if err := save(title, body); errors.Is(err, ErrNotInTeam) {
		return FieldErrors{"team": "Choose one of your teams."}
	} else if err != nil {
		return err
	}
	return nil
}

// DeleteSavedReply removes one of staff's teams' saved replies.
func (s *Service) DeleteSavedReply(ctx context.Context, staff Viewer, id string) error {
	if !staff.Staff || !ValidID(id) {
		return ErrNotFound
	}
	return s.store.DeleteSavedReply(ctx, staff, id)
}

// Signature is a representative's signature ("" when none).
func (s *Service) Signature(ctx context.Context, userID int64) (string, error) {
	return s.store.Signature(ctx, userID)
}

// SetSignature sets staff's signature ("" clears it).
func (s *Service) SetSignature(ctx context.Context, staff Viewer, signature string) error {
	if !staff.Staff {
		return ErrNotFound
	}
	signature = strings.TrimSpace(signature)
	if utf8.RuneCountInString(signature) > MaxSignature {
		return FieldErrors{"signature": fmt.Sprintf("Keep the signature to %d characters.", MaxSignature)}
	}
	return s.store.SetSignature(ctx, staff, signature)
}

// bulkIDs checks the ticked threads of a staff list: well-formed ids,
// each once, at least one and at most maxBulk.
func bulkIDs(staff Viewer, threadIDs []string, verb string) ([]string, error) {
	if !staff.Staff {
		return nil, ErrNotFound
	}
	var ids []string
	for _, id := range threadIDs {
		if ValidID(id) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		return nil, FieldErrors{"thread": "Tick the conversations to mark " + verb + "."}
	case len(ids) > maxBulk:
		return nil, FieldErrors{"thread": "Mark at most 100 conversations at once."}
	}
	return ids, nil
}
