package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/templates/pages"
)

// Teams of representatives and their members.

func (s *Server) teamsView(r *http.Request, fe accounts.FieldErrors, name, lob string) (pages.AdminTeamsView, error) {
	teams, err := s.messages.Teams(r.Context())
	if err != nil {
		return pages.AdminTeamsView{}, err
	}
	v := pages.AdminTeamsView{Chrome: s.chrome(r), Notice: r.URL.Query().Get("notice"),
		Name: pages.Field{Name: "name", Label: "Team name", Type: "text", Value: name, Error: fe["name"], Hint: "For example “Provider Services – Los Angeles County”."},
		LOB:  pages.Field{Name: "line_of_business", Label: "Line of business", Type: "text", Value: lob, Error: fe["line_of_business"], Hint: "For example “Cal MediConnect”."}}
	v.Problems = pages.Problems(v.Name, v.LOB)
	for _, t := range teams {
		at := pages.AdminTeam{ID: strconv.FormatInt(t.ID, 10), Name: t.Name, LineOfBusiness: t.LineOfBusiness,
			AddURL: fmt.Sprintf("/admin/teams/%d/members", t.ID), RemoveURL: fmt.Sprintf("/admin/teams/%d/members/remove", t.ID),
			RepliesURL: fmt.Sprintf("/admin/teams/%d/replies", t.ID)}
		for _, m := range t.Members {
			at.Members = append(at.Members, pages.Option{Value: m.Email, Label: m.Name})
		}
		v.Teams = append(v.Teams, at)
	}
	return v, nil
}

func (s *Server) adminTeams(w http.ResponseWriter, r *http.Request) {
	v, err := s.teamsView(r, nil, "", "")
	s.renderBuilt(w, r, http.StatusOK, pages.AdminTeams(v), err)
}

func (s *Server) adminTeamCreate(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "name", "line_of_business")
	if !ok {
		return
	}
	name, lob := f.Get("name"), f.Get("line_of_business")
	err := f.textErr()
	if err == nil {
		_, err = s.messages.CreateTeam(r.Context(), s.viewer(r), name, lob)
	}
	if fe, ok := fieldErrors(err, "name", "line_of_business"); ok {
		v, verr := s.teamsView(r, fe, name, lob)
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminTeams(v), verr)
		return
	}
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/teams?"+url.Values{"notice": {"Team created."}}.Encode(), http.StatusSeeOther)
}

// adminMemberAdd and adminMemberRemove put the representative named in the
// form into the route's team, or take them out.
func (s *Server) adminMemberAdd(w http.ResponseWriter, r *http.Request) {
	s.setMembership(w, r, true)
}

func (s *Server) adminMemberRemove(w http.ResponseWriter, r *http.Request) {
	s.setMembership(w, r, false)
}

func (s *Server) setMembership(w http.ResponseWriter, r *http.Request, member bool) {
	teamID, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil {
		s.notFound(w, r)
		return
	}
	f, ok := s.postForm(w, r, "email")
	if !ok {
		return
	}
	err = f.textErr()
	if err == nil {
		err = s.messages.SetMembership(r.Context(), s.viewer(r), teamID, f.Get("email"), member)
	}
	problem, refused := refusal(err, "")
	if fe, ok := fieldErrors(err, "email"); ok {
		problem, refused = nothingChanged(fe["email"]), true
	}
	switch {
	case errors.Is(err, messaging.ErrNotFound):
		s.notFound(w, r)
	case refused:
		v, verr := s.teamsView(r, nil, "", "")
		v.Problem = problem
		s.renderBuilt(w, r, http.StatusUnprocessableEntity, pages.AdminTeams(v), verr)
	case err != nil:
		s.serverError(w, r, err)
	default:
		http.Redirect(w, r, "/admin/teams?"+url.Values{"notice": {"Team updated."}}.Encode(), http.StatusSeeOther)
	}
}
