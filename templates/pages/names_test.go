package pages

import (
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

func render(t *testing.T, c templ.Component) string {
	t.Helper()
	var b strings.Builder
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// A button's visually hidden context is read after its visible word with a
// space between ("Check again clinic.test"), not run together: templ drops
// a leading space inside an element, so the space is part of the value.
func TestHiddenButtonContextIsSpaced(t *testing.T) {
	domains := render(t, AdminDomains(AdminDomainsView{Rows: []DomainRow{{Domain: "clinic.test", Policy: "portal"}}}))
	if !strings.Contains(domains, `Check again<span class="visually-hidden"> clinic.test</span>`) {
		t.Error("the Check again button's accessible name runs the domain into the word")
	}
	teams := render(t, AdminTeams(AdminTeamsView{Teams: []AdminTeam{{ID: "1", Name: "LA", Members: []Option{{Value: "rep@plan.example"}}}}}))
	if !strings.Contains(teams, `Remove<span class="visually-hidden"> rep@plan.example from LA</span>`) {
		t.Error("the Remove button's accessible name runs the address into the word")
	}
}
