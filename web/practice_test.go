package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/healthnet/secureportal/internal/practices"
)

// acceptInvite joins b's account to the practice of the one invitation
// on its practice page.
func (b *browser) acceptInvite() page {
	b.t.Helper()
	return b.post(b.practiceAction("accept"), url.Values{})
}

// validNPI is the n-th of a run of NPIs with a right check digit, as
// practices.NPIProblem judges it.
func validNPI(n int) string {
	base := fmt.Sprintf("1%08d", n)
	for d := range 10 {
		if npi := base + strconv.Itoa(d); practices.NPIProblem(npi) == "" {
			return npi
		}
	}
	panic("no check digit for " + base)
}

// npis counts the practices tests start, for a fresh NPI each.
var npis atomic.Int64

// practiceWithInvite creates a provider at admin who starts a practice,
// and invites invitee (an active provider created here) unless it is "";
// it returns the admin's browser.
func (s *site) practiceWithInvite(admin, invitee string) *browser {
	s.t.Helper()
	s.provider(admin)
	b := s.signedIn(admin)
	if p := b.post("/practice", url.Values{"name": {"Practice of " + admin}, "npi": {validNPI(int(npis.Add(1)) + 1000)}, "county": {"Los Angeles"},
		"line_of_business": {"Medi-Cal"}}); p.Status != http.StatusSeeOther {
		s.t.Fatalf("start a practice: %d", p.Status)
	}
	if invitee != "" {
		s.provider(invitee)
		if p := b.post("/practice/invites", url.Values{"email": {invitee}}); p.Status != http.StatusSeeOther {
			s.t.Fatalf("invite %s: %d", invitee, p.Status)
		}
	}
	return b
}

// practiceAction is the first form action on b's practice page that ends
// in /verb.
func (b *browser) practiceAction(verb string) string {
	b.t.Helper()
	m := regexp.MustCompile(`action="(/practice/(?:invites|members)/[0-9]+/` + verb + `)"`).FindStringSubmatch(b.get("/practice").Body)
	if m == nil {
		b.t.Fatalf("no %s form on /practice", verb)
	}
	return m[1]
}

// A clinic's front desk starts a practice from the account that receives
// its secure mail, invites a physician who has an account and a biller who
// has none; both then read and answer the practice's mail with their own
// accounts. A former member, another practice's member and a provider
// outside it get 404 for the thread, its file and a reply; the mailbox
// cannot leave; staff see the practice on the provider page.
func TestAPracticeSharesItsMailboxOverHTTP(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	desk := s.provider("frontdesk@harbor.example")
	s.provider("dr.lee@harbor.example")
	s.provider("dr.other@elsewhere.example")
	rep := s.signedIn("rep@plan.example")
	p := rep.postMessage("/staff/compose", url.Values{"to": {"frontdesk@harbor.example"}, "subject": {"Referral PRACTICE-SUBJECT"}, "body": {"See the file."}},
		file{"referral.pdf", []byte("%PDF-1.4 referral")})
	must(t, "sent", p.Status == http.StatusSeeOther)
	tid := threadID(t, p.Location)
	attachment := regexp.MustCompile(`/attachments/[0-9a-f-]{36}`).FindString(rep.get(p.Location).Body)
	must(t, "the thread has a file link", attachment != "")

	fd := s.signedIn("frontdesk@harbor.example")
	contains(t, "nav", fd.get("/inbox").Body, `href="/practice"`)
	start := fd.get("/practice").Body
	contains(t, "start form", start, `name="name"`, `name="npi"`, `name="county"`, `name="line_of_business"`, "frontdesk@harbor.example")

	bad := fd.post("/practice", url.Values{"name": {""}, "npi": {"1234567890"}, "county": {"San Diego"}, "line_of_business": {"Dental"}})
	must(t, "bad practice: 422", bad.Status == http.StatusUnprocessableEntity)
	contains(t, "its messages", bad.Body, "Enter the practice&#39;s name.", "That NPI&#39;s check digit is wrong", "Choose the line of business")
	must(t, "nothing started", s.count(`SELECT count(*) FROM practices`) == 0)

	ok := fd.post("/practice", url.Values{"name": {"Harbor Pediatrics"}, "npi": {"1234567893"}, "county": {"San Diego"}, "line_of_business": {"Cal MediConnect"}})
	must(t, "started: "+ok.Location, ok.Status == http.StatusSeeOther && ok.Location == "/practice?done=started")
	contains(t, "practice page", fd.get(ok.Location).Body, "Your practice is started.", `data-testid="practice-name">Harbor Pediatrics`,
		"frontdesk@harbor.example", "1234567893", `action="/practice/invites"`)

	// Invitations: one to an account, one to a new address.
	must(t, "invite Dr. Lee", fd.post("/practice/invites", url.Values{"email": {"Dr.Lee@harbor.example"}}).Status == http.StatusSeeOther)
	must(t, "invite the biller", fd.post("/practice/invites", url.Values{"email": {"billing@harbor.example"}}).Status == http.StatusSeeOther)
	again := fd.post("/practice/invites", url.Values{"email": {"dr.lee@harbor.example"}})
	must(t, "twice: 422", again.Status == http.StatusUnprocessableEntity)
	contains(t, "twice", again.Body, "already a member of the practice or has an invitation waiting")
	staff := fd.post("/practice/invites", url.Values{"email": {"rep@plan.example"}})
	contains(t, "a representative", staff.Body, "belongs to the plan&#39;s staff")
	m, link := s.mailTo("dr.lee@harbor.example", "You are invited to Harbor Pediatrics", "/practice")
	must(t, "the invitation names who and where: "+m.Text, regexp.MustCompile(`invited you to join Harbor Pediatrics`).MatchString(m.Text) && link == "/practice")
	_, register := s.mailTo("billing@harbor.example", "You are invited to Harbor Pediatrics", "/register/")

	// Before accepting, Dr. Lee sees nothing of the practice's.
	lee := s.signedIn("dr.lee@harbor.example")
	outside := func(b *browser, who string) {
		t.Helper()
		must(t, who+": thread 404", b.get("/threads/"+tid).Status == http.StatusNotFound)
		must(t, who+": file 404", b.get(attachment).Status == http.StatusNotFound)
		must(t, who+": reply 404", b.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"x"}}).Status == http.StatusNotFound)
		notContains(t, who+": inbox", b.get("/inbox").Body, "PRACTICE-SUBJECT")
	}
	outside(lee, "an invitee")
	contains(t, "the invitation on /practice", lee.get("/practice").Body, "invited you to join Harbor Pediatrics")
	j := lee.acceptInvite()
	must(t, "joined: "+j.Location, j.Status == http.StatusSeeOther && j.Location == "/practice?done=joined")
	contains(t, "the member's inbox", lee.get("/inbox").Body, "PRACTICE-SUBJECT", "Practice mail, to frontdesk@harbor.example")
	contains(t, "the thread, marked as the practice's", lee.get("/threads/"+tid).Body, "See the file.", "Practice mail, to frontdesk@harbor.example")
	must(t, "the file", lee.get(attachment).Status == http.StatusOK)
	r := lee.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Dr. Lee here: booked for Monday."}})
	must(t, "reply: "+fmt.Sprint(r.Status), r.Status == http.StatusSeeOther)
	contains(t, "staff see the member's reply", rep.get("/staff/threads/"+tid).Body, "Dr. Lee here: booked for Monday.")
	contains(t, "staff see it awaiting them", rep.get("/staff/?filter=awaiting").Body, "PRACTICE-SUBJECT")

	// The biller registers through the invitation's link and lands on
	// the practice page, where the invitation waits.
	biller := s.browser()
	reg := biller.register(register, "Bo Biller", goodPassword)
	must(t, "registered: "+reg.Location, reg.Status == http.StatusSeeOther && reg.Location == "/practice")
	must(t, "joined", biller.acceptInvite().Status == http.StatusSeeOther)
	contains(t, "biller reads it", biller.get("/threads/"+tid).Body, "See the file.")

	// Members cannot manage; another practice's member sees nothing.
	must(t, "a member invites: 404", lee.post("/practice/invites", url.Values{"email": {"x@harbor.example"}}).Status == http.StatusNotFound)
	must(t, "a member removes: 404", lee.post(fmt.Sprintf("/practice/members/%d/remove", desk.ID), url.Values{}).Status == http.StatusNotFound)
	other := s.signedIn("dr.other@elsewhere.example")
	must(t, "another practice", other.post("/practice", url.Values{"name": {"Elsewhere Clinic"}, "npi": {"1245319599"}, "county": {"Los Angeles"},
		"line_of_business": {"Medi-Cal"}}).Status == http.StatusSeeOther)
	outside(other, "another practice's mailbox")

	// Staff see the practice on the provider pages.
	contains(t, "the mailbox's provider page", rep.get(fmt.Sprintf("/staff/providers/%d", desk.ID)).Body, `data-testid="provider-group"`, "Harbor Pediatrics",
		"shared address: its members read what is sent here", `href="/staff/compose?to=frontdesk%40harbor.example"`)

	// The mailbox stays; a member leaves and loses access at once; the
	// admin removes the biller.
	must(t, "the mailbox cannot leave: 409", fd.post("/practice/leave", url.Values{}).Status == http.StatusConflict)
	must(t, "Dr. Lee leaves", lee.post("/practice/leave", url.Values{}).Status == http.StatusSeeOther)
	outside(lee, "a former member")
	billerID := s.count(`SELECT id FROM users WHERE email = 'billing@harbor.example'`)
	must(t, "the admin removes the biller", fd.post(fmt.Sprintf("/practice/members/%d/remove", billerID), url.Values{}).Status == http.StatusSeeOther)
	outside(biller, "a removed member")
	must(t, "audited", s.audited("practice.created", "{}") == 2 && s.audited("practice.joined", "{}") == 2 &&
		s.audited("practice.left", "{}") == 1 && s.audited("practice.member_removed", "{}") == 1)
	must(t, "staff have no practice page", rep.get("/practice").Status == http.StatusNotFound)
}

// notContains fails when s holds any of unwanted.
func notContains(t *testing.T, what, s string, unwanted ...string) {
	t.Helper()
	for _, u := range unwanted {
		if strings.Contains(s, u) {
			t.Errorf("%s: holds %q", what, u)
		}
	}
}
