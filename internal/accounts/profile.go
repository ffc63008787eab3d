package accounts

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/healthnet/secureportal/internal/audit"
)

// Limits of a profile's fields.
const (
	maxPractice = 200
	maxPhone    = 40
)

// Profile is u's profile.
func (s *Service) Profile(ctx context.Context, u User) (Profile, error) {
	p, err := s.store.Profile(ctx, u.ID)
	if err != nil {
		return Profile{}, fmt.Errorf("accounts: profile: %w", err)
	}
	p.Name = u.DisplayName
	return p, nil
}

// UpdateProfile checks and saves a provider's profile (audited, without
// the values: which fields changed is enough for the audit).
func (s *Service) UpdateProfile(ctx context.Context, u User, p Profile, ip string) error {
	if u.Role != RoleProvider {
		return ErrNotFound
	}
	p.Name, p.Practice, p.Phone = strings.TrimSpace(p.Name), strings.TrimSpace(p.Practice), strings.TrimSpace(p.Phone)
	errs := FieldErrors{}
	switch {
	case p.Name == "":
		errs["name"] = "Enter your name as it should appear to " + s.set.OrgName + "."
	case nameProblem(p.Name) != "":
		errs["name"] = nameProblem(p.Name)
	}
	switch {
	case utf8.RuneCountInString(p.Practice) > maxPractice:
		errs["practice"] = fmt.Sprintf("Keep the practice's name to %d characters.", maxPractice)
	case strings.IndexFunc(p.Practice, unicode.IsControl) >= 0:
		errs["practice"] = "The practice's name contains characters we cannot show. Please retype it."
	}
	if msg := phoneProblem(p.Phone); msg != "" {
		errs["phone"] = msg
	}
	known := false
	for _, l := range Languages {
		known = known || l.Code == p.Language
	}
	if !known {
		errs["language"] = "Choose English or Español."
	}
	if p.Notify == "" {
		p.Notify = NotifyEach // the default, as for a profile never saved
	}
	if p.Notify != NotifyEach && p.Notify != NotifyDaily {
		errs["notify"] = "Choose an email for every message or one a day."
	}
	if len(errs) > 0 {
		return errs
	}
	old, err := s.Profile(ctx, u)
	if err != nil {
		return err
	}
	var changed []string
	for _, f := range []struct{ name, before, after string }{
		{"name", old.Name, p.Name}, {"practice", old.Practice, p.Practice}, {"phone", old.Phone, p.Phone}, {"language", old.Language, p.Language},
		{"notify", old.Notify, p.Notify}} {
		if f.before != f.after {
			changed = append(changed, f.name)
		}
	}
	ev := audit.Event{ActorID: u.ID, Action: audit.ProfileUpdated, TargetType: "user", TargetID: fmt.Sprint(u.ID), IP: ip,
		Detail: map[string]any{"changed": changed}}
	if err := s.store.UpdateProfile(ctx, u.ID, p, ev); err != nil {
		return fmt.Errorf("accounts: update profile: %w", err)
	}
	return nil
}

// phoneProblem says what is wrong with a phone number ("" when nothing):
// digits with the usual separators, an extension allowed, or empty.
func phoneProblem(phone string) string {
	if phone == "" {
		return ""
	}
	digits := 0
	for _, r := range phone {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune(" +-().xXext", r):
		default:
			return "Enter a phone number with digits, for example (619) 555-0142 ext. 12."
		}
	}
	switch {
	case utf8.RuneCountInString(phone) > maxPhone:
		return fmt.Sprintf("Keep the phone number to %d characters.", maxPhone)
	case digits < 7:
		return "Enter the whole phone number, with its area code."
	}
	return ""
}
