package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestAdminCreatesStaffAndManagesTeams(t *testing.T) {
	s := newSite(t, nil)
	_, ab := s.admin("admin@plan.example")
	p := ab.post("/admin/teams", url.Values{"name": {"Provider Services – San Diego County"}, "line_of_business": {"Cal MediConnect"}})
	must(t, "team created", p.Status == http.StatusSeeOther)
	p = ab.post("/admin/teams", url.Values{"name": {"Provider Services – San Diego County"}})
	must(t, "duplicate team refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "exists"))
	var teamID int64
	s.app.Pool.QueryRow(context.Background(), `SELECT id FROM teams`).Scan(&teamID)

	p = ab.post("/admin/staff", url.Values{"email": {"New.Rep@plan.example"}, "name": {"Nia Rep"}, "role": {"staff"}, "team": {fmt.Sprint(teamID)}})
	must(t, fmt.Sprintf("staff created: %d", p.Status), p.Status == http.StatusSeeOther)
	_, link := s.mailTo("new.rep@plan.example", "registration", "/register/")
	must(t, "registration link for the new representative", link != "")
	p = ab.get("/admin/teams")
	contains(t, "teams page", p.Body, "Nia Rep", "new.rep@plan.example")
	p = ab.post("/admin/staff", url.Values{"email": {"x@plan.example"}, "role": {"provider"}})
	must(t, "forged role for staff form: 400", p.Status == http.StatusBadRequest)

	p = ab.post(fmt.Sprintf("/admin/teams/%d/members", teamID), url.Values{"email": {"nobody@plan.example"}})
	must(t, "unknown member refused", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "not a representative"))
	p = ab.post(fmt.Sprintf("/admin/teams/%d/members/remove", teamID), url.Values{"email": {"new.rep@plan.example"}})
	must(t, "member removed", p.Status == http.StatusSeeOther && !strings.Contains(ab.get("/admin/teams").Body, "Nia Rep"))
	p = ab.post(fmt.Sprintf("/admin/teams/%d/members", teamID), url.Values{"email": {"new.rep@plan.example"}})
	must(t, "member added back", p.Status == http.StatusSeeOther && strings.Contains(ab.get("/admin/teams").Body, "Nia Rep"))
}
