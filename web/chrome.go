package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/templates/layout"
)

// chrome builds the page frame for r: organisation, contacts, assets and the
// navigation that fits the viewer.
func (s *Server) chrome(r *http.Request) layout.Chrome {
	c := layout.Chrome{
		OrgName:       s.cfg.Org.Name,
		Contacts:      contactsView(s.cfg.Org.Contacts),
		StylesheetURL: s.assets.URL("css/app.css"),
		IconURL:       s.assets.URL("img/shield.svg"),
	}
	if u, ok := currentUser(r.Context()); ok {
		c.SignedInAs = displayName(u)
		c.LogoutURL = "/logout"
		c.Nav = s.navFor(u)
		c.IdleSeconds = int(s.cfg.SessionIdle.Seconds())
		c.ScriptURLs = append(c.ScriptURLs, s.assets.URL("js/idle.js"))
	} else {
		c.Nav = []layout.NavItem{{Label: "Sign in", URL: "/login"}}
	}
	c.Nav = append(c.Nav, layout.NavItem{Label: "Secure Email Guide", URL: "/help"})
	for i := range c.Nav {
		c.Nav[i].Current = c.Nav[i].URL == r.URL.Path
	}
	return c
}

func contactsView(cs []config.Contact) []layout.Contact {
	out := make([]layout.Contact, 0, len(cs))
	for _, c := range cs {
		v := layout.Contact{Label: c.Label, Value: c.Value}
		switch c.Kind {
		case "tel":
			v.Href = "tel:" + dialable(c.Value)
		case "mailto":
			v.Href = "mailto:" + c.Value
		case "https":
			v.Href = "https://" + c.Value
		case "fax":
			v.Value = c.Value + " (fax)"
		}
		out = append(out, v)
	}
	return out
}

// dialable keeps the digits and a leading plus of a phone number for tel: links.
func dialable(phone string) string {
	var b strings.Builder
	for i, c := range phone {
		if c >= '0' && c <= '9' || (c == '+' && i == 0) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// displayName is how the portal addresses a user: their chosen name, or their
// email address before they have chosen one.
func displayName(u accounts.User) string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Email
}

// showUnread puts a provider's count of inbox conversations with an
// unopened message in the title and beside Inbox. Only the inbox page
// shows it: counting on every page cost about a fifth of a provider page's
// throughput at 32 clients (docs/PERFORMANCE.md), and the inbox usually
// has the count at hand (inboxUnread).
func showUnread(c *layout.Chrome, n int) {
	c.Unread = n
	for i := range c.Nav {
		if c.Nav[i].URL == "/inbox" && n > 0 {
			c.Nav[i].Badge = strconv.Itoa(n)
		}
	}
}

// navFor is the main navigation of a signed-in user.
func (s *Server) navFor(u accounts.User) []layout.NavItem {
	var nav []layout.NavItem
	switch u.Role {
	case accounts.RoleProvider:
		nav = []layout.NavItem{{Label: "Inbox", URL: "/inbox"}, {Label: "New message", URL: "/compose"}}
		if s.practices != nil {
			nav = append(nav, layout.NavItem{Label: "Practice", URL: "/practice"})
		}
	case accounts.RoleStaff:
		nav = []layout.NavItem{{Label: "Staff inbox", URL: "/staff"}, {Label: "New message", URL: "/staff/compose"}, {Label: "Saved replies", URL: "/staff/replies"}}
	case accounts.RoleAdmin:
		nav = []layout.NavItem{{Label: "Users", URL: "/admin/users"}, {Label: "Teams", URL: "/admin/teams"}, {Label: "Audit log", URL: "/admin/audit"}, {Label: "Emergency access", URL: "/admin/emergency"}, {Label: "Keys", URL: "/admin/keys"}, {Label: "Mail domains", URL: "/admin/domains"}}
	}
	return append(nav, layout.NavItem{Label: "Your account", URL: "/account"})
}

// chromeWithScript is the frame of a page that loads one of our scripts by
// URL (pages carry no inline script: the CSP forbids it).
func (s *Server) chromeWithScript(r *http.Request, script string) layout.Chrome {
	c := s.chrome(r)
	c.ScriptURLs = append(c.ScriptURLs, s.assets.URL(script))
	return c
}

// chromeWithUploads is the frame of pages with a message form and its
// upload progress bar.
func (s *Server) chromeWithUploads(r *http.Request) layout.Chrome {
	return s.chromeWithScript(r, "js/upload.js")
}
