package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/templates/pages"
)

// New staff and admin accounts: created by an admin, finished by the
// person through the emailed registration link.

func (s *Server) staffView(r *http.Request, email, name, role, team string, fe accounts.FieldErrors) (pages.AdminStaffView, error) {
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		return pages.AdminStaffView{}, err
	}
	v := pages.AdminStaffView{Chrome: s.chrome(r), Role: role, RoleErr: fe["role"],
		Email: pages.Field{Name: "email", Label: "Email address", Type: "email", Value: email, Error: fe["email"], Autocomplete: "off", Required: true},
		Name:  pages.Field{Name: "name", Label: "Name", Type: "text", Value: name, Error: fe["name"], Autocomplete: "off"},
		Teams: []pages.Option{{Value: "", Label: "No team"}}}
	for _, t := range teams {
		id := strconv.FormatInt(t.ID, 10)
		v.Teams = append(v.Teams, pages.Option{Value: id, Label: t.Name, Selected: id == team})
	}
	v.Problems = pages.Problems(v.Email, v.Name)
	return v, nil
}

// teamExists reports whether id names one of the teams the form offers.
func (s *Server) teamExists(r *http.Request, id string) (bool, error) {
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		return false, err
	}
	for _, t := range teams {
		if strconv.FormatInt(t.ID, 10) == id {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) adminStaffForm(w http.ResponseWriter, r *http.Request) {
	v, err := s.staffView(r, "", "", "staff", "", nil)
	s.renderBuilt(w, r, http.StatusOK, pages.AdminStaff(v), err)
}

func (s *Server) adminStaffCreate(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "email", "name")
	if !ok {
		return
	}
	email, name, roleText, team := f.Get("email"), f.Get("name"), f.Get("role"), f.Get("team")
	me, _ := currentUser(r.Context())
	role, err := accounts.ParseRole(roleText)
	if err != nil || role == accounts.RoleProvider {
		s.renderError(w, r, http.StatusBadRequest) // the form offers staff and admin only
		return
	}
	// The form offers the teams that exist: check a representative's
	// before creating the account, so that a forged or since-deleted team
	// is refused with nothing done (issue 13: it was a 500 after the
	// account had been created and its registration link queued).
	var teamID int64
	if role == accounts.RoleStaff && team != "" {
		known, err := s.teamExists(r, team)
		if err != nil {
			s.serverError(w, r, err)
			return
		}
		if !known {
			s.renderError(w, r, http.StatusBadRequest)
			return
		}
		teamID, _ = strconv.ParseInt(team, 10, 64)
	}
	var u accounts.User
	err = f.textErr()
	if err == nil {
		u, err = s.accounts.CreateUser(r.Context(), email, name, role, "", me.ID, "")
	}
	if fe, ok := fieldErrors(err, "email", "name"); ok {
		v, verr := s.staffView(r, email, name, roleText, team, fe)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminStaff(v), verr)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	if teamID != 0 {
		if err := s.messages.SetMembership(r.Context(), s.viewer(r), teamID, u.Email, true); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/users/%d?", u.ID)+url.Values{"notice": {"Account created; the registration link is on its way."}}.Encode(), http.StatusSeeOther)
}
