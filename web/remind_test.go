package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A representative can email the provider a fresh link to a message that
// waits unopened, at most once a day; once opened, there is nothing to
// remind of. Each reminder is audited.
func TestRemindingAProviderOfAnUnopenedMessage(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	lena := s.signedIn("rep.la@plan.example")
	tid := threadID(t, lena.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Lab results"}, "body": {"Attached."}}).Location)
	s.mailTo("dr@clinic.example", "[SECURE]", "")
	page := lena.get("/staff/threads/" + tid).Body
	contains(t, "the button", page, `data-testid="remind"`, "Email the provider a reminder")
	msg := s.queryString(`SELECT id::text FROM messages WHERE thread_id = $1`, tid)

	p := lena.post("/staff/messages/"+msg+"/remind", url.Values{})
	must(t, "back to the thread: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff/threads/"+tid+"?reminded=1")
	contains(t, "notice", lena.get(p.Location).Body, "A reminder with a fresh link is on its way to the provider.")
	_, link := s.mailTo("dr@clinic.example", "[SECURE]", "/threads/"+tid)
	must(t, "the reminder links to the thread: "+link, strings.HasSuffix(link, "/threads/"+tid))
	must(t, "audited", s.audited("message.reminder_queued", `{"thread_id":"`+tid+`"}`) == 1)

	p = lena.post("/staff/messages/"+msg+"/remind", url.Values{})
	contains(t, "once a day", lena.get(p.Location).Body, "less than a day ago")
	must(t, "still one", s.audited("message.reminder_queued", "{}") == 1)
	must(t, "another team cannot", s.signedIn("rep.sd@plan.example").post("/staff/messages/"+msg+"/remind", url.Values{}).Status == http.StatusNotFound)
	dr := s.signedIn("dr@clinic.example")
	must(t, "nor the provider", dr.post("/staff/messages/"+msg+"/remind", url.Values{}).Status == http.StatusNotFound)

	dr.get("/threads/" + tid)
	must(t, "opened: no button", !strings.Contains(lena.get("/staff/threads/"+tid).Body, `data-testid="remind"`))
	p = lena.post("/staff/messages/"+msg+"/remind", url.Values{})
	contains(t, "opened", lena.get(p.Location).Body, "No reminder sent: the provider has opened the message.")
}
