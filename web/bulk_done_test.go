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
	contains(t, "problem", staff.get(p.Location).Body, "Tick the conversations first, then choose what to mark them.")
	must(t, "a provider cannot", s.signedIn("dr@clinic.example").post("/staff/threads/done", url.Values{"thread": {c}}).Status == http.StatusNotFound)
}

// "Mark them read" (the same form, another button) records the ticked
// conversations as read, audited as marked from the list, and leaves
// other teams' threads alone.
func TestTickedConversationsAreMarkedReadTogether(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	staff, other := s.signedIn("rep.la@plan.example"), s.signedIn("rep.sd@plan.example")
	dr := s.signedIn("dr@clinic.example")
	var ids []string
	for _, b := range []*browser{staff, staff, other} {
		id := threadID(t, b.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Question"}, "body": {"Body"}}).Location)
		dr.postMessage("/threads/"+id+"/reply", url.Values{"body": {"An answer"}})
		ids = append(ids, id)
	}
	contains(t, "the button", staff.get("/staff").Body, `formaction="/staff/threads/read?back=`, "Mark them read")
	p := staff.post("/staff/threads/read?back=%2Fstaff%3Ffilter%3Dunread", url.Values{"thread": {ids[0], ids[2]}})
	must(t, "back to the list: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff?filter=unread&read=1")
	page := staff.get(p.Location).Body
	contains(t, "notice", page, "1 conversation marked read.", ids[1])
	must(t, "the read one left the unread list", !strings.Contains(page, ids[0]))
	must(t, "audited as marked from the list", s.audited("message.read", `{"marked_from_list":true}`) == 1)
	contains(t, "another team's thread is still unread", other.get("/staff?filter=unread").Body, ids[2])
	p = staff.post("/staff/threads/read?back=%2Fstaff", url.Values{"thread": {ids[0]}})
	contains(t, "nothing left to mark", staff.get(p.Location).Body, "No conversation changed: those ticked were read already.")
}
