package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var savedReplyDelete = regexp.MustCompile(`/staff/replies/([0-9a-f-]{36})/delete`)

// A team's saved reply and a representative's signature go into the reply
// box without JavaScript; the team shares the reply, another team never
// sees it, and its text is sealed in the database.
func TestSavedRepliesAndSignatureFillTheReplyBox(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("mate.la@plan.example", "Marco", "LA")
	s.staffIn("rep.sd@plan.example", "Sam", "SD")
	s.provider("dr@clinic.example")
	lena, marco, sam := s.signedIn("rep.la@plan.example"), s.signedIn("mate.la@plan.example"), s.signedIn("rep.sd@plan.example")
	tid := threadID(t, lena.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Referral"}, "body": {"Please confirm."}}).Location)

	contains(t, "empty state", lena.get("/staff/replies").Body, `data-testid="no-saved-replies"`, "For the LA team.")
	p := lena.post("/staff/signature", url.Values{"signature": {"Lena Ortiz\nProvider Services, ext. 4410"}})
	must(t, "signature saved: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff/replies?signature=saved")
	const body = "We received your documents (REPLY-MARKER-9e1). A nurse reviewer will call within two business days."
	p = lena.post("/staff/replies", url.Values{"team": {lenaTeam(t, lena)}, "title": {"Documents received"}, "body": {body}})
	must(t, "reply saved: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/staff/replies?added=1")
	page := marco.get("/staff/replies").Body
	contains(t, "a teammate sees it", page, "Documents received", "REPLY-MARKER-9e1")
	id := savedReplyDelete.FindStringSubmatch(page)[1]
	must(t, "another team does not", !strings.Contains(sam.get("/staff/replies").Body, "REPLY-MARKER-9e1"))
	assertNoPlaintext(t, s, "REPLY-MARKER-9e1")

	thread := lena.get("/staff/threads/" + tid).Body
	contains(t, "the picker", thread, `data-testid="saved-reply-form"`, "Documents received (LA)")
	contains(t, "the signature waits in the box", thread, "\n\nLena Ortiz\nProvider Services, ext. 4410</textarea>")
	filled := lena.get("/staff/threads/" + tid + "?saved=" + id).Body
	contains(t, "the chosen reply, then the signature", filled, "REPLY-MARKER-9e1). A nurse reviewer will call within two business days.\n\nLena Ortiz")
	contains(t, "the teammate's box has the reply without Lena's signature", marco.get("/staff/threads/"+tid+"?saved="+id).Body,
		"two business days.</textarea>")

	p = sam.post("/staff/replies/"+id+"/delete", url.Values{})
	must(t, "another team cannot delete it", p.Status == http.StatusNotFound)
	p = marco.post("/staff/replies/"+id+"/delete", url.Values{})
	must(t, "a teammate can", p.Status == http.StatusSeeOther && p.Location == "/staff/replies?deleted=1")
	must(t, "gone", !strings.Contains(lena.get("/staff/replies").Body, "REPLY-MARKER-9e1"))
	must(t, "audited", s.audited("saved_reply.added", "{}") == 1 && s.audited("saved_reply.deleted", "{}") == 1 && s.audited("account.signature_set", "{}") == 1)
	must(t, "providers have no saved replies", s.signedIn("dr@clinic.example").get("/staff/replies").Status == http.StatusNotFound)
}

// lenaTeam is the value of the team the replies form offers (the only one).
func lenaTeam(t *testing.T, b *browser) string {
	t.Helper()
	m := regexp.MustCompile(`name="team" value="(\d+)"`).FindStringSubmatch(b.get("/staff/replies").Body)
	if m == nil {
		t.Fatal("no team on the replies form")
	}
	return m[1]
}

func TestSavedReplyFormsExplainWhatIsWrong(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	_, sd := s.staffIn("rep.sd@plan.example", "Sam", "SD")
	lena := s.signedIn("rep.la@plan.example")
	team := lenaTeam(t, lena)
	for _, c := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"team": {team}, "title": {""}, "body": {"Hello"}}, "Enter a title"},
		{url.Values{"team": {team}, "title": {strings.Repeat("x", 101)}, "body": {"Hello"}}, "Keep the title to 100 characters."},
		{url.Values{"team": {team}, "title": {"Hello"}, "body": {"  "}}, "Write a message."},
		{url.Values{"team": {strconv.FormatInt(sd, 10)}, "title": {"Hello"}, "body": {"Hi"}}, "Choose one of your teams."},
	} {
		p := lena.post("/staff/replies", c.form)
		must(t, c.want+": 422", p.Status == http.StatusUnprocessableEntity)
		contains(t, c.want, p.Body, c.want)
	}
	p := lena.post("/staff/signature", url.Values{"signature": {strings.Repeat("x", 501)}})
	must(t, "long signature", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Keep the signature to 500 characters."))
	must(t, "nothing saved", s.audited("saved_reply.added", "{}") == 0 && s.audited("account.signature_set", "{}") == 0)
}

// Admins manage any team's saved replies from the teams page; the team
// uses them, and nobody but admins reaches those pages.
func TestAdminsManageATeamsSavedReplies(t *testing.T) {
	s := newSite(t, nil)
	_, la := s.staffIn("rep.la@plan.example", "Lena", "LA")
	_, admin := s.admin("admin@plan.example")
	base := "/admin/teams/" + strconv.FormatInt(la, 10) + "/replies"
	contains(t, "linked from the teams page", admin.get("/admin/teams").Body, `href="`+base+`"`)
	contains(t, "the team's page", admin.get(base).Body, "Saved replies of LA", `data-testid="no-saved-replies"`)
	p := admin.post(base, url.Values{"title": {""}, "body": {"Hi"}})
	must(t, "problems shown", p.Status == http.StatusUnprocessableEntity && strings.Contains(p.Body, "Enter a title"))
	p = admin.post(base, url.Values{"title": {"Holiday hours"}, "body": {"ADMIN-REPLY-77: we are closed on the 25th."}})
	must(t, "added: "+p.Location, p.Status == http.StatusSeeOther && p.Location == base+"?added=1")
	lena := s.signedIn("rep.la@plan.example")
	page := lena.get("/staff/replies").Body
	contains(t, "the team has it", page, "ADMIN-REPLY-77")
	id := savedReplyDelete.FindStringSubmatch(page)[1]
	must(t, "another team's id through this team's page is not found", admin.post("/admin/teams/999999/replies/"+id+"/delete", url.Values{}).Status == http.StatusNotFound)
	p = admin.post(base+"/"+id+"/delete", url.Values{})
	must(t, "deleted", p.Status == http.StatusSeeOther && !strings.Contains(lena.get("/staff/replies").Body, "ADMIN-REPLY-77"))
	must(t, "audited", s.audited("saved_reply.added", "{}") == 1 && s.audited("saved_reply.deleted", "{}") == 1)
	must(t, "staff cannot", lena.get(base).Status == http.StatusNotFound)
}
