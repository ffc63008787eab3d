package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/postgres"
)

// A reply typed past the idle sign-out is not lost: it is held sealed,
// the sign-in page says so, and after signing in the thread page gives it
// back once, ready to send; sending it sends it once.
func TestAReplyPostedAfterTheIdleSignOutComesBackAfterSignIn(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "2s"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	tid := threadID(t, s.signedIn("rep@plan.example").postMessage("/staff/compose",
		url.Values{"to": {"dr@clinic.example"}, "subject": {"Dose"}, "body": {"Which dose?"}}).Location)
	dr := s.signedIn("dr@clinic.example")
	time.Sleep(2500 * time.Millisecond) // the idle sign-out strikes while the reply is typed

	const text = "DRAFT-MARKER-3f2: the dose is 50 mg twice a day."
	scan := []byte("%PDF-1.7 scan DRAFT-FILE-MARKER-9a1")
	p := dr.postMessage("/threads/"+tid+"/reply", url.Values{"body": {text}}, file{"DRAFT-NAME-MARKER-7c.pdf", scan})
	must(t, "to the sign-in page, the form's page next: "+p.Location,
		p.Status == http.StatusSeeOther && p.Location == "/login?"+url.Values{"next": {"/threads/" + tid}, "reason": {"draft"}}.Encode())
	contains(t, "the sign-in page says it is kept", dr.get(p.Location).Body, "before your message was sent. Sign in within 10 minutes")
	must(t, "held, not sent", s.count(`SELECT count(*) FROM drafts`) == 1 && s.count(`SELECT count(*) FROM messages WHERE thread_id = $1`, tid) == 1)
	assertNoPlaintext(t, s, "DRAFT-MARKER-3f2")
	assertNoPlaintext(t, s, "DRAFT-FILE-MARKER-9a1")
	assertNoPlaintext(t, s, "DRAFT-NAME-MARKER-7c")
	must(t, "its file held", s.count(`SELECT count(*) FROM draft_files`) == 1)

	dr.signInFully("dr@clinic.example", goodPassword)
	must(t, "another page leaves it held", !strings.Contains(dr.get("/inbox").Body, "DRAFT-MARKER") && s.count(`SELECT count(*) FROM drafts`) == 1)
	page := dr.get("/threads/" + tid).Body
	contains(t, "given back on its page, with its file", page, "It was kept, with its files, while you signed in again", text+"</textarea>",
		`data-testid="kept-files"`, "DRAFT-NAME-MARKER-7c.pdf (", `name="kept_files"`)
	must(t, "given back once, and gone", s.count(`SELECT count(*) FROM drafts`) == 0 && s.count(`SELECT count(*) FROM data_keys WHERE owner_kind = 'draft'`) == 0)
	must(t, "not twice", !strings.Contains(dr.get("/threads/"+tid).Body, "DRAFT-MARKER"))
	kept := regexp.MustCompile(`name="kept_files" value="([^"]+)"`).FindStringSubmatch(page)
	must(t, "the form carries the kept file", kept != nil)

	// Someone else cannot send it, even from the same form (the id alone
	// would pass: the file is that form's; the owner check answers 410
	// before the thread's scope could answer 404).
	s.provider("other@clinic.example")
	other := s.signedIn("other@clinic.example")
	p = other.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"x"}, "kept_files": {kept[1]}})
	must(t, "another's kept file: 410, nothing sent", p.Status == http.StatusGone && s.count(`SELECT count(*) FROM draft_files`) == 1)

	p = dr.postMessage("/threads/"+tid+"/reply", url.Values{"body": {text}, "kept_files": {kept[1]}})
	must(t, "sent", p.Status == http.StatusSeeOther && s.count(`SELECT count(*) FROM messages WHERE thread_id = $1`, tid) == 2)
	link := regexp.MustCompile(`href="(/attachments/[0-9a-f-]{36})"[^>]*>DRAFT-NAME-MARKER-7c.pdf`).FindStringSubmatch(dr.get("/threads/" + tid).Body)
	must(t, "the reply carries the kept file", link != nil)
	must(t, "the same bytes", dr.get(link[1]).Body == string(scan))
	must(t, "the kept copy destroyed with its keys", s.count(`SELECT count(*) FROM draft_files`) == 0 &&
		s.count(`SELECT count(*) FROM data_keys WHERE owner_kind LIKE 'draft-file%'`) == 0)
	p = dr.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"again"}, "kept_files": {kept[1]}})
	must(t, "sent once: a second send of the kept file is refused", p.Status == http.StatusGone && s.count(`SELECT count(*) FROM messages WHERE thread_id = $1`, tid) == 2)
}

// A new message is kept the same way (its recipient, subject and the
// staff's expiry choice too); a draft past its time is never given back
// and the purge deletes it with its key.
func TestANewMessageIsKeptAndAnExpiredDraftIsGone(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "2s"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	rep := s.signedIn("rep@plan.example")
	time.Sleep(2500 * time.Millisecond)
	p := rep.postMessage("/staff/compose", url.Values{"to": {"new.dr@clinic.example"}, "subject": {"Welcome packet"}, "body": {"Forms inside."}, "expires_in": {"30"}})
	must(t, "held: "+p.Location, strings.HasPrefix(p.Location, "/login?") && s.count(`SELECT count(*) FROM drafts`) == 1)
	rep.signInFully("rep@plan.example", goodPassword)
	page := rep.get("/staff/compose").Body
	contains(t, "the form comes back", page, `value="new.dr@clinic.example"`, `value="Welcome packet"`, "Forms inside.</textarea>",
		`<option value="30" selected>`, "It was kept while you signed in again")
	must(t, "no file kept", !strings.Contains(page, `data-testid="kept-files"`))

	time.Sleep(2500 * time.Millisecond)
	rep.postMessage("/staff/compose", url.Values{"to": {"new.dr@clinic.example"}, "subject": {"Second try"}, "body": {"Forms inside."}},
		file{"forms.pdf", []byte("%PDF-1.7 forms")})
	s.app.Pool.Exec(context.Background(), `UPDATE drafts SET expires_at = now() - interval '1 second'`)
	s.app.Pool.Exec(context.Background(), `UPDATE draft_files SET expires_at = now() - interval '1 second'`)
	rep.signInFully("rep@plan.example", goodPassword)
	must(t, "an expired draft is not given back", !strings.Contains(rep.get("/staff/compose").Body, "Second try"))
	n, err := postgres.NewDrafts(s.app.Pool, s.app.Keys).PurgeExpired(context.Background())
	must(t, "purged with its key and its file's", err == nil && n == 1 && s.count(`SELECT count(*) FROM drafts`) == 0 &&
		s.count(`SELECT count(*) FROM data_keys WHERE owner_kind LIKE 'draft%'`) == 0 && s.count(`SELECT count(*) FROM draft_files`) == 0)
}

// Posting without a session is open to anyone: what is held counts
// against the doors' per-IP limit, so nobody can fill the drafts table.
func TestHeldDraftsAreRateLimited(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "3"})
	stranger := s.browser()
	for range 5 {
		stranger.postMessage("/compose", url.Values{"to": {"team:1"}, "subject": {"Hello"}, "body": {"Spam"}})
	}
	must(t, "at most the limit held", s.count(`SELECT count(*) FROM drafts`) == 3)
}

// Signed-in pages carry the idle period and the warning box for idle.js;
// "Stay signed in" posts to /session/keepalive, which starts the idle
// period again, and answers a signed-out browser with the sign-in page.
func TestKeepaliveExtendsTheSession(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_SESSION_IDLE": "2s"})
	s.provider("dr@clinic.example")
	dr := s.signedIn("dr@clinic.example")
	contains(t, "signed-in pages", dr.get("/inbox").Body, `<meta name="session-idle" content="2">`, `data-testid="idle-warning"`, "/js/idle.js")
	for range 3 {
		time.Sleep(1200 * time.Millisecond)
		must(t, "kept alive", dr.post("/session/keepalive", url.Values{}).Status == http.StatusNoContent)
	}
	must(t, "still signed in after three idle periods' worth", dr.get("/account").Status == http.StatusOK)
	p := s.browser().post("/session/keepalive", url.Values{})
	must(t, "signed out: to the sign-in page", p.Status == http.StatusSeeOther && strings.HasPrefix(p.Location, "/login"))
	must(t, "nothing for idle.js when signed out", !strings.Contains(s.browser().get("/login").Body, "session-idle"))
}
