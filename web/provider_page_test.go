package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestStaffSeeAProviderTheyServeAndResendTheirRegistration(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"new.dr@clinic.example"}, "subject": {"Welcome packet"}, "body": {"Hello."}})
	tid := threadID(t, p.Location)
	s.mailTo("new.dr@clinic.example", "[SECURE]", "/register/")
	var id int64
	s.app.Pool.QueryRow(context.Background(), `SELECT id FROM users WHERE email = 'new.dr@clinic.example'`).Scan(&id)
	page := fmt.Sprintf("/staff/providers/%d", id)

	contains(t, "thread page links the provider", staff.get("/staff/threads/"+tid).Body, `href="`+page+`"`)
	p = staff.get(page)
	must(t, "provider page", p.Status == http.StatusOK)
	contains(t, "provider page", p.Body, "new.dr@clinic.example", "Invited, not registered yet", "Never", "Welcome packet", "Resend the registration link")
	p = staff.post(page+"/registration", url.Values{})
	must(t, "resent: "+p.Location, p.Status == http.StatusSeeOther && p.Location == page+"?resent=1")
	contains(t, "notice", staff.get(p.Location).Body, "A fresh registration link is on its way")
	s.mailTo("new.dr@clinic.example", "", "/register/")
	must(t, "audited as the representative's request", s.audited("registration.link_requested", `{"requested_by":"staff"}`) == 1)

	other := s.signedIn("rep.sd@plan.example")
	must(t, "a representative who does not serve them: 404", other.get(page).Status == http.StatusNotFound)
	must(t, "nor resend", other.post(page+"/registration", url.Values{}).Status == http.StatusNotFound)
	must(t, "no such provider: 404", staff.get("/staff/providers/999999").Status == http.StatusNotFound)

	s.app.Pool.Exec(context.Background(), `UPDATE users SET status = 'active', password_hash = 'x', last_login_at = now() WHERE id = $1`, id)
	p = staff.get(page)
	must(t, "registered: no resend offered", strings.Contains(p.Body, "Registered") && !strings.Contains(p.Body, "Resend the registration link"))
	must(t, "and none sent", staff.post(page+"/registration", url.Values{}).Status == http.StatusConflict)
}
