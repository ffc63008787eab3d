package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/jobs"
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
		{"notify", "weekly", "Choose an email for every message or one a day."},
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
	// Spanish chosen, the portal speaks it from now on in this browser.
	contains(t, "account page shows it, in Spanish now", b.get(p.Location).Body, "Su perfil se guardó.", "Harbor Pediatrics", "(619) 555-0142 ext. 12", "Español",
		`<html lang="es">`, "Sesión iniciada como Dr. Priya Shah")
	must(t, "audited with what changed, not the values", s.audited("account.profile_updated", `{"changed":["name","practice","phone","language"]}`) == 1)
	contains(t, "staff see it", rep.get(fmt.Sprintf("/staff/providers/%d", dr.ID)).Body, "Harbor Pediatrics", "(619) 555-0142 ext. 12", "Prefers to read in", "Español")
	must(t, "staff have no profile page", rep.get("/account/profile").Status == http.StatusNotFound)
}

// A provider who chose one email a day gets no email per message: the
// hourly run sends one digest that counts what waits (no subject, no
// content), once; then nothing until there is something new a day later.
func TestADailyDigestReplacesTheEmailPerMessage(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	dr := s.provider("dr@clinic.example")
	b := s.signedIn("dr@clinic.example")
	p := b.post("/account/profile", url.Values{"name": {"Dr. Shah"}, "practice": {""}, "phone": {""}, "language": {"en"}, "notify": {"daily"}})
	must(t, "chosen: "+p.Location, p.Status == http.StatusSeeOther)
	contains(t, "account page", b.get("/account").Body, "One a day, saying how many messages wait")
	rep := s.signedIn("rep@plan.example")
	for _, subject := range []string{"Lab results for DIGEST-SUBJECT-1", "Referral DIGEST-SUBJECT-2"} {
		rep.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {subject}, "body": {"See inside."}})
	}
	settle(t, s)
	must(t, "both recorded as waiting, not emailed",
		s.count(`SELECT count(*) FROM message_deliveries WHERE recipient_id = $1 AND NOT notified AND reason LIKE '%daily digest%'`, dr.ID) == 2)
	for _, m := range s.mail.Messages() {
		must(t, "no email per message: "+m.Subject, !strings.EqualFold(m.To[0], "dr@clinic.example"))
	}

	if _, err := s.app.Jobs.Insert(context.Background(), jobs.DigestArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	m, link := s.mailTo("dr@clinic.example", "[SECURE] 2 new secure messages from Health Net", "/inbox")
	must(t, "to the inbox: "+link, link == "/inbox")
	must(t, "nothing about the messages in it", !strings.Contains(m.Text+m.HTML, "DIGEST-SUBJECT"))
	settle(t, s)
	if _, err := s.app.Jobs.Insert(context.Background(), jobs.DigestArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	settle(t, s)
	must(t, "one digest a day", s.count(`SELECT count(*) FROM river_job WHERE kind = 'digest_email'`) == 1)
}
