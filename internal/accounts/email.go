package accounts

import (
	"net/mail"
	"strings"
)

// NormalizeEmail trims and lowercases an email address and checks that it is
// a plain address (no display name, no angle brackets). It returns a message
// fit to show next to the field when it is not.
func NormalizeEmail(raw string) (string, string) {
	e := strings.ToLower(strings.TrimSpace(raw))
	switch {
	case e == "":
		return "", "Enter your email address."
	case len(e) > 254:
		return "", "That email address is too long."
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", "Enter an email address like name@example.org."
	}
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", "Enter an email address like name@example.org."
	}
	return e, ""
}
