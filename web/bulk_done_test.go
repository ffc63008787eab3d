package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Ticking conversations on the list and marking them done works without
// JavaScript, skips what the representative may not see, and returns to
// the same list.
func TestTickedConversationsAreMarkedDoneTogether(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	staff, other := s.signedIn("rep.la@plan.example"), s.signedIn("rep.sd@plan.example")
	send := func(b *browser, subject string) string {
		p := b.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {subject}, "body": {"Body"}})
		return threadID(t, p.Location)
	}
	a, b, c := send(staff, "First"), send(staff, "Second"), send(staff, "Third")
	foreign := send(other, "Other team's")

	p := staff.get("/staff?filter=open")
	contains(t, "list", p.Body, `name="thread" value="`+a+`"`, "Mark the ticked conversations done", `action="/staff/threads/done?back=`)
	p = staff.post("/staff/threads/done?back=%2Fstaff%3Ffilter%3Dopen", url.Values{"thread": {a, b, foreign, "not-an-id"}})
	must(t, "back to the same list: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff?done=2&filter=open")
	page := staff.get(p.Location).Body
	contains(t, "notice", page, "2 conversations marked done.", "Third")
	must(t, "the done ones left the list", !strings.Contains(page, "First") && !strings.Contains(page, "Second"))
	contains(t, "done list", staff.get("/staff?filter=done").Body, "First", "Second")
	must(t, "another team's thread untouched", !strings.Contains(other.get("/staff?filter=done").Body, "Other team"))
	must(t, "each audited", s.audited("thread.status_changed", `{"bulk":true}`) == 2)

	p = staff.post("/staff/threads/done?back=//evil.example", url.Values{})
	must(t, "nothing ticked says so, on the site: "+p.Location, p.Location == "/staff?bulk=none")
	contains(t, "problem", staff.get(p.Location).Body, "Tick the conversations to mark done first.")
	must(t, "a provider cannot", s.signedIn("dr@clinic.example").post("/staff/threads/done", url.Values{"thread": {c}}).Status == http.StatusNotFound)
}
