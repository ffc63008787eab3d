package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A provider keeps a profile (name, practice, phone, preferred language)
// on their account; the staff who serve them see it on the provider page.
func TestProvidersKeepAProfileStaffSee(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	dr := s.provider("dr@clinic.example")
	rep := s.signedIn("rep@plan.example")
	rep.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Hello"}, "body": {"Welcome."}})
	b := s.signedIn("dr@clinic.example")
	contains(t, "account page", b.get("/account").Body, `data-testid="profile"`, "English", `href="/account/profile"`)
	form := b.get("/account/profile").Body
	contains(t, "the form", form, `name="practice"`, `name="phone"`, `<option value="es">Español</option>`)

	for _, c := range []struct {
		field, value, want string
	}{
		{"name", "", "Enter your name"},
		{"phone", "call me", "Enter a phone number with digits"},
		{"phone", "555", "Enter the whole phone number"},
		{"language", "fr", "Choose English or Español."},
		{"practice", strings.Repeat("x", 201), "Keep the practice&#39;s name to 200 characters."},
	} {
		v := url.Values{"name": {"Dr. Priya Shah"}, "practice": {"Harbor Pediatrics"}, "phone": {"(619) 555-0142"}, "language": {"es"}}
		v.Set(c.field, c.value)
		p := b.post("/account/profile", v)
		must(t, c.field+": 422", p.Status == http.StatusUnprocessableEntity)
		contains(t, c.field, p.Body, c.want)
	}
	must(t, "nothing saved", s.audited("account.profile_updated", "{}") == 0)

	p := b.post("/account/profile", url.Values{"name": {"Dr. Priya Shah"}, "practice": {"Harbor Pediatrics"}, "phone": {"(619) 555-0142 ext. 12"}, "language": {"es"}})
	must(t, "saved: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/account?changed=profile")
	contains(t, "account page shows it", b.get(p.Location).Body, "Your profile was saved.", "Harbor Pediatrics", "(619) 555-0142 ext. 12", "Español", "Signed in as Dr. Priya Shah")
	must(t, "audited with what changed, not the values", s.audited("account.profile_updated", `{"changed":["name","practice","phone","language"]}`) == 1)
	contains(t, "staff see it", rep.get(fmt.Sprintf("/staff/providers/%d", dr.ID)).Body, "Harbor Pediatrics", "(619) 555-0142 ext. 12", "Prefers to read in", "Español")
	must(t, "staff have no profile page", rep.get("/account/profile").Status == http.StatusNotFound)
}
