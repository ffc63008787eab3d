package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/healthnet/secureportal/internal/accounts"
)

func (s *site) admin(email string) (accounts.User, *browser) {
	s.t.Helper()
	u, err := s.app.Accounts.CreateUser(context.Background(), email, "Ada Admin", accounts.RoleAdmin, goodPassword, 0, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return u, s.signedIn(email)
}

func (s *site) provider(email string) accounts.User {
	s.t.Helper()
	u, err := s.app.Accounts.CreateUser(context.Background(), email, "Dr. "+email, accounts.RoleProvider, goodPassword, 0, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return u
}

// act confirms an admin action the way the console does: confirmation page,
// then the POST with a reason.
func (b *browser) act(userID int64, action, reason string) page {
	b.t.Helper()
	confirm := b.get(fmt.Sprintf("/admin/users/%d/confirm?action=%s", userID, action))
	if confirm.Status != http.StatusOK || !strings.Contains(confirm.Body, `name="reason"`) {
		b.t.Fatalf("confirmation page for %s: %d", action, confirm.Status)
	}
	return b.post(fmt.Sprintf("/admin/users/%d/actions", userID), url.Values{"action": {action}, "reason": {reason}})
}

func TestEveryAdminRouteIsNotFoundForProvidersAndStaff(t *testing.T) {
	s := newSite(t, nil)
	s.provider("dr@clinic.example")
	s.staffIn("rep@plan.example", "Rep", "LA")
	browsers := map[string]*browser{"provider": s.signedIn("dr@clinic.example"), "staff": s.signedIn("rep@plan.example")}
	routes := walkAdminRoutes(t, s, func(method, path string) {
		for who, b := range browsers {
			p := b.do(method, path, url.Values{"reason": {"x"}, "action": {"disable"}}, nil)
			if p.Status != http.StatusNotFound {
				t.Errorf("%s %s as %s: %d, want 404", method, path, who, p.Status)
			}
		}
	})
	must(t, fmt.Sprintf("walked the admin routes (%d)", routes), routes >= 15)
}

// walkAdminRoutes calls visit for every /admin route in the route table,
// with "1" for an {id}, and returns how many there were.
func walkAdminRoutes(t *testing.T, s *site, visit func(method, path string)) int {
	t.Helper()
	routes := 0
	err := chi.Walk(s.app.Web.Handler().(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/admin") {
			routes++
			visit(method, strings.NewReplacer("{id}", "1", "/*", "/").Replace(route))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return routes
}

func TestAdminPagesAskForThePasswordAfterIdle(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_ADMIN_REAUTH": "1s"})
	_, ab := s.admin("admin@plan.example")
	must(t, "fresh sign-in reaches the console", ab.get("/admin/users").Status == http.StatusOK)
	time.Sleep(1200 * time.Millisecond)
	// Every admin page and action, not only the one tried first.
	walkAdminRoutes(t, s, func(method, path string) {
		if strings.HasPrefix(path, "/admin/reauth") {
			return
		}
		p := ab.do(method, path, url.Values{"reason": {"x"}, "action": {"unlock"}}, nil)
		if p.Status != http.StatusSeeOther || !strings.HasPrefix(p.Location, "/admin/reauth") {
			t.Errorf("%s %s by an idle admin: %d to %q, want 303 to /admin/reauth", method, path, p.Status, p.Location)
		}
	})
	p := ab.get("/admin/users")
	must(t, "idle admin asked to re-authenticate: "+p.Location, p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/admin/reauth"))
	p = ab.post("/admin/reauth", url.Values{"password": {"not my password"}, "next": {"/admin/users"}})
	must(t, "wrong password refused", p.Status == http.StatusUnauthorized)
	p = ab.post("/admin/reauth", url.Values{"password": {goodPassword}, "next": {"/admin/users"}})
	must(t, "right password without the app's code refused", p.Status == http.StatusUnauthorized && strings.Contains(p.Body, "6-digit code"))
	p = ab.postCode("admin@plan.example", "/admin/reauth", url.Values{"password": {goodPassword}, "next": {"/admin/users"}})
	must(t, "right password and code return to the page", p.Status == http.StatusSeeOther && p.Location == "/admin/users")
	must(t, "console usable again", ab.get("/admin/users").Status == http.StatusOK)
}
