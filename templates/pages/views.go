// Package pages renders whole screens. Each page takes a view-model struct
// defined here: plain, already-formatted data with no I/O behind it.
package pages

import "github.com/healthnet/secureportal/templates/layout"

// ErrorView is what a user sees when a request fails: a plain explanation and
// the request id to quote to support. Never the internal cause.
type ErrorView struct {
	Chrome    layout.Chrome
	Status    int
	Title     string
	Message   string
	RequestID string
}

// HelpView feeds the Secure Email Guide.
type HelpView struct {
	Chrome  layout.Chrome
	OrgName string
	// Contacts repeats the organisation's contacts in the body, where the
	// guide says whom to call.
	Contacts []layout.Contact
}

// HomeView feeds the landing page of a signed-out visitor.
type HomeView struct {
	Chrome  layout.Chrome
	OrgName string
}
