package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestInternalNotesStayWithTheTeam(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("mate.la@plan.example", "Marco", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Authorization"}, "body": {"Please send the form."}})
	tid := threadID(t, p.Location)
	s.mailTo("dr@clinic.example", "[SECURE]", "")
	const note = "NOTE-MARKER-51c2 Called the office: the form comes Friday."

	p = staff.get("/staff/threads/" + tid)
	contains(t, "empty state", p.Body, `data-testid="no-notes"`, "Only representatives see these")
	p = staff.post("/staff/threads/"+tid+"/notes", url.Values{"note": {"  "}})
	must(t, "an empty note is refused with the reason", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Write the note."))
	p = staff.post("/staff/threads/"+tid+"/notes", url.Values{"note": {note}})
	must(t, "note added: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff/threads/"+tid+"#notes")

	contains(t, "the author's page", staff.get("/staff/threads/"+tid).Body, note, "Internal", "Lena")
	contains(t, "a teammate's page", s.signedIn("mate.la@plan.example").get("/staff/threads/"+tid).Body, note)
	other := s.signedIn("rep.sd@plan.example")
	must(t, "another team: 404", other.post("/staff/threads/"+tid+"/notes", url.Values{"note": {"x"}}).Status == http.StatusNotFound)

	prov := s.signedIn("dr@clinic.example")
	page := prov.get("/threads/" + tid)
	must(t, "the provider's page has the message", page.Status == http.StatusOK && strings.Contains(page.Body, "Please send the form."))
	must(t, "and neither the note nor the notes section", !strings.Contains(page.Body, "NOTE-MARKER") && !strings.Contains(page.Body, "internal-notes"))
	must(t, "a provider cannot post one", prov.post("/staff/threads/"+tid+"/notes", url.Values{"note": {"x"}}).Status == http.StatusNotFound)
	for _, m := range s.mail.Messages() {
		must(t, "no email carries the note", !strings.Contains(m.Text+m.HTML, "NOTE-MARKER"))
	}
	must(t, "audited", s.audited("thread.note_added", "{}") == 1)
	assertNoPlaintext(t, s, "NOTE-MARKER-51c2")
}
