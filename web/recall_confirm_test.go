package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Withdrawing asks first; withdrawing a conversation's only message
// destroys its subject too (a subject can be PHI), and a conversation with
// other messages keeps it.
func TestWithdrawAsksFirstAndTakesTheSubjectOfALoneMessage(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep@plan.example")
	send := func(subject string) (thread, message string) {
		p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {subject}, "body": {"Body"}})
		thread = threadID(t, p.Location)
		s.app.Pool.QueryRow(context.Background(), `SELECT id::text FROM messages WHERE thread_id = $1`, thread).Scan(&message)
		return thread, message
	}
	subjectLive := func(thread string) bool {
		var live bool
		s.app.Pool.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM data_keys k JOIN threads t ON t.subject_key = k.id WHERE t.id = $1)`, thread).Scan(&live)
		return live
	}

	lone, loneMsg := send("Biopsy results for J. Doe")
	contains(t, "thread page", staff.get("/staff/threads/"+lone).Body, `href="/staff/messages/`+loneMsg+`/recall"`)
	p := staff.get("/staff/messages/" + loneMsg + "/recall")
	must(t, "a confirmation page", p.Status == http.StatusOK)
	contains(t, "confirmation", p.Body, "cannot be undone", `data-testid="recall-subject-note"`, `href="/staff/threads/`+lone+`"`)
	must(t, "looking withdraws nothing", subjectLive(lone) && s.audited("message.recalled", "{}") == 0)
	must(t, "withdrawn", staff.post("/staff/messages/"+loneMsg+"/recall", url.Values{}).Status == http.StatusSeeOther)
	must(t, "the lone message's subject is destroyed", !subjectLive(lone))
	prov := s.signedIn("dr@clinic.example")
	contains(t, "provider inbox", prov.get("/inbox").Body, "(withdrawn)")
	must(t, "the subject is gone from the provider's inbox", !strings.Contains(prov.get("/inbox").Body, "Biopsy"))
	must(t, "and a second look finds nothing to withdraw", staff.get("/staff/messages/"+loneMsg+"/recall").Status == http.StatusNotFound)

	kept, first := send("Lab results")
	prov.postMessage("/threads/"+kept+"/reply", url.Values{"body": {"Thanks."}})
	p = staff.get("/staff/messages/" + first + "/recall")
	must(t, "no subject note when other messages remain", p.Status == http.StatusOK && !strings.Contains(p.Body, "recall-subject-note"))
	staff.post("/staff/messages/"+first+"/recall", url.Values{})
	must(t, "the subject stays", subjectLive(kept))
	contains(t, "provider inbox", prov.get("/inbox").Body, "Lab results")
}
