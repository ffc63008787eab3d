package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestThreadStatusFollowsTheConversationAndTheRepresentative(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Authorization"}, "body": {"Please send the form."}})
	tid := threadID(t, p.Location)
	status := func() string {
		t.Helper()
		body := staff.get("/staff/threads/" + tid).Body
		_, rest, _ := strings.Cut(body, `data-testid="status-now">`)
		now, _, _ := strings.Cut(rest, "<")
		return now
	}
	must(t, "after the staff message: "+status(), status() == "Waiting on the provider")
	prov := s.signedIn("dr@clinic.example")
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Here it is."}})
	must(t, "after the provider's reply: "+status(), status() == "Open")

	p = staff.post("/staff/threads/"+tid+"/status", url.Values{"status": {"closed"}})
	must(t, "a forged status is refused with the choices", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Choose open, waiting"))
	p = staff.post("/staff/threads/"+tid+"/status", url.Values{"status": {"done"}})
	must(t, "marked done: "+p.Location, p.Status == http.StatusSeeOther)
	contains(t, "notice", staff.get(p.Location).Body, "Status changed to “Done”.")
	contains(t, "done filter", staff.get("/staff?filter=done").Body, "Authorization", `data-testid="done-tag"`)
	must(t, "not under Not done", !strings.Contains(staff.get("/staff?filter=open").Body, "Authorization"))
	must(t, "audited", s.audited("thread.status_changed", `{"from":"open","to":"done"}`) == 1)
	contains(t, "in the thread's history", staff.get("/staff/threads/"+tid).Body, "set the status to “Done”")
	must(t, "the provider's page shows no history", !strings.Contains(prov.get("/threads/"+tid).Body, "thread-history"))
	must(t, "another team cannot", s.signedIn("rep.sd@plan.example").post("/staff/threads/"+tid+"/status", url.Values{"status": {"open"}}).Status == http.StatusNotFound)
	must(t, "nor the provider", prov.post("/staff/threads/"+tid+"/status", url.Values{"status": {"open"}}).Status == http.StatusNotFound)
	must(t, "the provider's page shows no status", !strings.Contains(prov.get("/threads/"+tid).Body, "status-now"))

	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"One more thing."}})
	must(t, "a provider's message reopens a done thread: "+status(), status() == "Open")
	contains(t, "back under Not done", staff.get("/staff?filter=open").Body, "Authorization")
}
