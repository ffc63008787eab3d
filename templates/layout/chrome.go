// Package layout holds the page frame every screen shares: header with the
// organisation's name and navigation, skip link, main region and footer with
// the organisation's contacts. Views receive plain data, never domain objects.
package layout

import "strconv"

// Chrome is what the frame needs to know about the deployment and the viewer.
type Chrome struct {
	OrgName       string
	Contacts      []Contact
	StylesheetURL string
	IconURL       string
	Nav           []NavItem
	// SignedInAs is the viewer's display name; empty when signed out.
	SignedInAs string
	// LogoutURL is where the sign-out form posts; empty hides the button.
	LogoutURL string
	// ScriptURLs are this page's own scripts (never inline: the CSP forbids it).
	ScriptURLs []string
	// Unread, for a provider, counts their conversations with a message
	// not opened: in the page title and beside Inbox.
	Unread int
	// IdleSeconds, when signed in, is the idle sign-out period: the page
	// warns before it (static/js/idle.js) with "Stay signed in".
	IdleSeconds int
}

// NavItem is one link of the main navigation.
type NavItem struct {
	Label   string
	URL     string
	Current bool
	// Badge, when not empty, is shown beside the label (e.g. an unread count).
	Badge string
}

// Contact is one way to reach the organisation.
type Contact struct {
	Label string
	Value string
	// Href is the link target (tel:, mailto:, https:), empty for a fax number.
	Href string
}

// PageTitle is the document's title: the page's, with the unread count
// first when there is one, then the site's name.
func (c Chrome) PageTitle(title string) string {
	t := title + " – " + c.OrgName + " Secure Messaging"
	if c.Unread > 0 {
		t = "(" + strconv.Itoa(c.Unread) + ") " + t
	}
	return t
}
