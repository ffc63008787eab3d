package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/practices"
	"github.com/healthnet/secureportal/templates/pages"
)

// practiceNotices are the lines /practice shows after a change (?done=).
var practiceNotices = map[string]string{
	"started":   "Your practice is started. Invite your colleagues below.",
	"invited":   "The invitation is sent. It waits for 14 days.",
	"withdrawn": "The invitation is withdrawn.",
	"joined":    "You joined the practice. Its messages are in your inbox.",
	"declined":  "The invitation is declined.",
	"removed":   "The member is removed. They no longer see the practice's messages.",
	"left":      "You left the practice. Its messages are no longer in your inbox.",
}

// practiceView builds /practice for u; start and invite are the two forms
// as posted (with their errors), or empty.
func (s *Server) practiceView(r *http.Request, u accounts.User, start practices.Practice, startErrs accounts.FieldErrors, invite string, inviteErrs accounts.FieldErrors) (pages.PracticeView, error) {
	ctx := r.Context()
	v := pages.PracticeView{Chrome: s.chrome(r), Notice: practiceNotices[r.URL.Query().Get("done")],
		Invite: pages.Field{Name: "email", Label: "Colleague's email address", Type: "email", Value: invite, Error: inviteErrs["email"], Autocomplete: "off", MaxLength: 254,
			Hint: "They sign in with their own account; a new address gets a link to register."}}
	p, role, err := s.practices.Membership(ctx, u)
	switch {
	case errors.Is(err, practices.ErrNotFound):
		return s.noPracticeView(r, u, v, start, startErrs)
	case err != nil:
		return v, err
	}
	v.Practice = &pages.PracticeDetails{Name: p.Name, NPI: p.NPI, County: p.County, LineOfBusiness: p.LineOfBusiness, MailboxEmail: p.MailboxEmail,
		Admin: role == practices.RoleAdmin, Mailbox: p.MailboxID == u.ID}
	members, invites, err := s.practices.Members(ctx, p)
	if err != nil {
		return v, err
	}
	for _, m := range members {
		role := "Member"
		if m.Role == practices.RoleAdmin {
			role = "Admin"
		}
		v.Members = append(v.Members, pages.PracticeMember{ID: strconv.FormatInt(m.UserID, 10), Name: m.Name, Email: m.Email, Role: role, Mailbox: m.Mailbox, You: m.UserID == u.ID})
	}
	v.Invites = s.inviteViews(r, invites)
	return v, nil
}

func (s *Server) noPracticeView(r *http.Request, u accounts.User, v pages.PracticeView, start practices.Practice, fe accounts.FieldErrors) (pages.PracticeView, error) {
	received, err := s.practices.InvitesFor(r.Context(), u)
	if err != nil {
		return v, err
	}
	v.Received = s.inviteViews(r, received)
	v.Start = pages.PracticeStartForm{Email: u.Email,
		Name: pages.Field{Name: "name", Label: "Practice name", Type: "text", Value: start.Name, Error: fe["name"], Autocomplete: "organization", MaxLength: 200},
		NPI: pages.Field{Name: "npi", Label: "Group NPI", Type: "text", Value: start.NPI, Error: fe["npi"], Autocomplete: "off", MaxLength: 14, InputMode: "numeric",
			Hint: "The practice's 10-digit National Provider Identifier."},
		County:         pages.Field{Name: "county", Label: "County", Type: "text", Value: start.County, Error: fe["county"], Autocomplete: "address-level2", MaxLength: 100},
		LineOfBusiness: pages.Field{Name: "line_of_business", Label: "Line of business", Error: fe["line_of_business"]},
		Lines:          []pages.Option{{Value: "", Label: "Choose one"}}}
	for _, l := range practices.LinesOfBusiness {
		v.Start.Lines = append(v.Start.Lines, pages.Option{Value: l, Label: l, Selected: l == start.LineOfBusiness})
	}
	return v, nil
}

func (s *Server) inviteViews(r *http.Request, list []practices.Invite) []pages.PracticeInvite {
	out := make([]pages.PracticeInvite, 0, len(list))
	for _, i := range list {
		out = append(out, pages.PracticeInvite{ID: strconv.FormatInt(i.ID, 10), Practice: i.PracticeName, Email: i.Email, By: i.InvitedBy,
			Expires: s.day(r.Context(), i.ExpiresAt)})
	}
	return out
}

// renderPractice answers with /practice, or with the safe error page.
func (s *Server) renderPractice(w http.ResponseWriter, r *http.Request, status int, v pages.PracticeView, err error) {
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.render(w, r, status, pages.Practice(v))
}

func (s *Server) practicePage(w http.ResponseWriter, r *http.Request) {
	u, _ := currentUser(r.Context())
	v, err := s.practiceView(r, u, practices.Practice{}, nil, "", nil)
	s.renderPractice(w, r, http.StatusOK, v, err)
}

func (s *Server) startPractice(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "name", "npi", "county", "line_of_business")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	p := practices.Practice{Name: f.Get("name"), NPI: f.Get("npi"), County: f.Get("county"), LineOfBusiness: f.Get("line_of_business")}
	err := f.textErr()
	if err == nil {
		_, err = s.practices.Start(r.Context(), u, p, ClientIP(r.Context()).String())
	}
	if errors.Is(err, practices.ErrInAPractice) {
		http.Redirect(w, r, "/practice", http.StatusSeeOther) // a second click: the practice is there
		return
	}
	if fe, bad := fieldErrors(err); bad {
		v, err := s.practiceView(r, u, p, fe, "", nil)
		s.renderPractice(w, r, http.StatusUnprocessableEntity, v, err)
		return
	}
	if s.practiceFailed(w, r, err) {
		return
	}
	s.log.InfoContext(r.Context(), "practice started", "request_id", RequestID(r.Context()), "user_id", u.ID)
	http.Redirect(w, r, "/practice?done=started", http.StatusSeeOther)
}

func (s *Server) invitePractice(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "email")
	if !ok {
		return
	}
	u, _ := currentUser(r.Context())
	err := f.textErr()
	if err == nil {
		err = s.practices.Invite(r.Context(), u, f.Get("email"), ClientIP(r.Context()).String())
	}
	if fe, bad := fieldErrors(err); bad {
		v, err := s.practiceView(r, u, practices.Practice{}, nil, f.Get("email"), fe)
		s.renderPractice(w, r, http.StatusUnprocessableEntity, v, err)
		return
	}
	if s.practiceFailed(w, r, err) {
		return
	}
	http.Redirect(w, r, "/practice?done=invited", http.StatusSeeOther)
}

// practiceChange is a post that changes membership by the id in its path:
// do is called with that id, then the browser goes back to /practice.
func (s *Server) practiceChange(done string, do func(r *http.Request, u accounts.User, id int64, ip string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.postForm(w, r); !ok {
			return
		}
		var id int64
		if p := chi.URLParam(r, "id"); p != "" {
			var err error
			if id, err = strconv.ParseInt(p, 10, 64); err != nil {
				s.notFound(w, r)
				return
			}
		}
		u, _ := currentUser(r.Context())
		if s.practiceFailed(w, r, do(r, u, id, ClientIP(r.Context()).String())) {
			return
		}
		http.Redirect(w, r, "/practice?done="+done, http.StatusSeeOther)
	}
}

// practiceFailed answers a refused or failed practice change: what is not
// the viewer's to change is not found, as anywhere else in the portal.
func (s *Server) practiceFailed(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, practices.ErrNotFound), errors.Is(err, practices.ErrNotAdmin):
		s.notFound(w, r)
	case errors.Is(err, practices.ErrMailboxStays):
		s.renderMessage(w, r, http.StatusConflict, "This account stays in the practice",
			"This account receives the practice's mail, so it cannot leave. Colleagues who no longer work with the practice can be removed from the practice page.")
	case errors.Is(err, practices.ErrInAPractice):
		s.renderMessage(w, r, http.StatusConflict, "You already belong to a practice",
			"An account belongs to one practice at a time. Leave your practice first, then ask for a new invitation.")
	default:
		s.serverError(w, r, err)
	}
	return true
}

func (s *Server) practiceRoutes(r chi.Router) {
	r.Get("/", s.practicePage)
	r.Post("/", s.startPractice)
	r.Post("/invites", s.invitePractice)
	r.Post("/invites/{id}/accept", s.practiceChange("joined", func(r *http.Request, u accounts.User, id int64, ip string) error {
		return s.practices.Accept(r.Context(), u, id, ip)
	}))
	r.Post("/invites/{id}/decline", s.practiceChange("declined", func(r *http.Request, u accounts.User, id int64, ip string) error {
		return s.practices.Decline(r.Context(), u, id, ip)
	}))
	r.Post("/invites/{id}/withdraw", s.practiceChange("withdrawn", func(r *http.Request, u accounts.User, id int64, ip string) error {
		return s.practices.Withdraw(r.Context(), u, id, ip)
	}))
	r.Post("/members/{id}/remove", s.practiceChange("removed", func(r *http.Request, u accounts.User, id int64, ip string) error {
		return s.practices.RemoveMember(r.Context(), u, id, ip)
	}))
	r.Post("/leave", s.practiceChange("left", func(r *http.Request, u accounts.User, _ int64, ip string) error {
		return s.practices.Leave(r.Context(), u, ip)
	}))
}
