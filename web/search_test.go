package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// searchWorld: a representative in one team has written to two providers;
// one thread mentions a drug in a reply.
func searchWorld(t *testing.T) (s *site, staff, drA, drB *browser, claim string) {
	s = newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr.a@clinic.example")
	s.provider("dr.b@clinic.example")
	staff = s.signedIn("rep@plan.example")
	claim = threadID(t, staff.postMessage("/staff/compose", url.Values{"to": {"dr.a@clinic.example"}, "subject": {"Claim 4471 review"}, "body": {"Please send the notes."}}).Location)
	staff.postMessage("/staff/compose", url.Values{"to": {"dr.b@clinic.example"}, "subject": {"Referral"}, "body": {"Approved."}})
	drA, drB = s.signedIn("dr.a@clinic.example"), s.signedIn("dr.b@clinic.example")
	drA.postMessage("/threads/"+claim+"/reply", url.Values{"body": {"The Sertraline dose changed in February."}})
	return s, staff, drA, drB, claim
}

func TestSearchFindsByAWordInAMessageForStaffAndTheProvider(t *testing.T) {
	s, staff, drA, drB, _ := searchWorld(t)
	p := staff.get("/staff?q=sertraline")
	contains(t, "staff search", p.Body, "Claim 4471 review", `data-testid="search-summary"`, "1 conversation matches.", `value="sertraline"`, `data-testid="search-clear"`)
	must(t, "staff search leaves out the thread without the word", !strings.Contains(p.Body, "Referral"))
	// The tabs narrow the search rather than drop it.
	contains(t, "tabs keep the search", p.Body, `href="/staff?filter=mine&amp;q=sertraline"`)
	contains(t, "the provider finds it in their own threads", drA.get("/inbox?q=SERTRALINE").Body, "Claim 4471 review", "1 conversation matches.")
	b := drB.get("/inbox?q=sertraline")
	contains(t, "another provider finds nothing", b.Body, "No conversation matches your search")
	must(t, "another provider never sees the thread", !strings.Contains(b.Body, "Claim 4471"))
	contains(t, "a provider's name or address finds their threads", staff.get("/staff?q=dr.b%40clinic").Body, "Referral")
	titles := staff.get("/staff?q=sertraline&in=titles")
	contains(t, "subjects only: the message word is not looked for", titles.Body, "No conversation matches your search", "looked at subjects and names only", `open`)
	// What was searched for is nobody's business but the searcher's: it
	// is not in the portal's log.
	must(t, "the search words are not logged", !strings.Contains(strings.ToLower(s.logs.String()), "sertraline"))
}

// Bad search input gets a specific message and searches nothing.
func TestSearchExplainsWhatItCannotUse(t *testing.T) {
	_, staff, drA, _, _ := searchWorld(t)
	for _, c := range []struct{ query, want string }{
		{"q=" + url.QueryEscape(strings.Repeat("x", 201)), "Search for at most 8 words and 200 characters."},
		{"q=a+b+c+d+e+f+g+h+i", "Search for at most 8 words and 200 characters."},
		{"q=claim&from=2026-13-45", "Enter dates as year-month-day, for example 2026-11-30."},
		{"q=claim&from=2026-11-30&to=2026-11-01", "The first date is after the second; swap them."},
		{"q=claim&team=999999", "Choose one of your teams."},
	} {
		p := staff.get("/staff?" + c.query)
		contains(t, c.query, p.Body, `data-testid="search-problem"`, c.want, `aria-invalid="true"`)
		must(t, c.query+": nothing listed", !strings.Contains(p.Body, "Claim 4471 review"))
	}
	p := drA.get("/inbox?from=yesterday")
	contains(t, "a provider's bad date", p.Body, "Enter dates as year-month-day")
}

// The narrowing filters work with or without words.
func TestSearchFiltersNarrowTheList(t *testing.T) {
	s, staff, _, _, claim := searchWorld(t)
	staff.postMessage("/staff/threads/"+claim+"/reply", url.Values{"body": {"Form attached."}}, file{"auth-form.pdf", []byte("%PDF-1.7 form")})
	p := staff.get("/staff?attachment=1")
	contains(t, "only threads with a file", p.Body, "Claim 4471 review", `data-testid="search-clear"`)
	must(t, "the thread without a file is left out", !strings.Contains(p.Body, "Referral"))
	contains(t, "a file name is searched", staff.get("/staff?q=auth-form").Body, "Claim 4471 review")
	today := s.clock.Now().Format("2006-01-02")
	contains(t, "today's threads", staff.get("/staff?from="+today+"&to="+today).Body, "Claim 4471 review", "Referral")
	contains(t, "none last year", staff.get("/staff?to=2025-12-31").Body, "No conversation matches these filters.")
}

// A provider files a conversation under Archived; a new message from the
// plan brings it back, and a search still finds it while archived. The
// count of conversations with something unopened is in the title and
// beside Inbox.
func TestProvidersArchiveAndSeeTheirUnreadCount(t *testing.T) {
	_, staff, drA, drB, claim := searchWorld(t)
	p := drA.get("/inbox")
	contains(t, "tabs", p.Body, `href="/inbox?filter=archived"`, "Archived")
	contains(t, "the unread count: title and badge", p.Body, "<title>(1) Your secure messages", `<span class="badge">1<span class="visually-hidden"> unread</span>`)
	page := drA.get("/threads/" + claim)
	contains(t, "the button", page.Body, `action="/threads/`+claim+`/archive"`, "Archive")
	must(t, "opened: no unread left", !strings.Contains(drA.get("/inbox").Body, `class="badge"`))
	p = drA.post("/threads/"+claim+"/archive", url.Values{"archive": {"1"}})
	must(t, "archived: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/inbox?archived=1")
	inbox := drA.get(p.Location).Body
	contains(t, "the notice", inbox, "The conversation was archived.")
	must(t, "gone from the inbox", !strings.Contains(inbox, "Claim 4471 review"))
	contains(t, "under Archived", drA.get("/inbox?filter=archived").Body, "Claim 4471 review")
	contains(t, "a search finds it", drA.get("/inbox?q=4471").Body, "Claim 4471 review")
	must(t, "another provider cannot", drB.post("/threads/"+claim+"/archive", url.Values{"archive": {"1"}}).Status == http.StatusNotFound)
	staff.postMessage("/staff/threads/"+claim+"/reply", url.Values{"body": {"One more form, please."}})
	contains(t, "a new message brings it back", drA.get("/inbox").Body, "Claim 4471 review", "<title>(1) ")
	drA.post("/threads/"+claim+"/archive", url.Values{"archive": {"1"}})
	p = drA.post("/threads/"+claim+"/archive", url.Values{"archive": {"0"}})
	must(t, "moved back by hand", p.Location == "/threads/"+claim+"?archived=0" && strings.Contains(drA.get("/inbox").Body, "Claim 4471 review"))
	contains(t, "empty archive explained", drA.get("/inbox?filter=archived").Body, "Nothing archived")
}

// A provider whose inbox is longer than a page still gets the right count:
// the first page cannot hold it, so it is counted by a query; archived
// conversations are not in the inbox and not in the count.
func TestTheUnreadCountOfALongInbox(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	rep := s.signedIn("rep@plan.example")
	var ids []string
	for i := range 27 {
		ids = append(ids, threadID(t, rep.postMessage("/staff/compose",
			url.Values{"to": {"dr@clinic.example"}, "subject": {"Notice " + strconv.Itoa(i)}, "body": {"Please read."}}).Location))
	}
	dr := s.signedIn("dr@clinic.example")
	contains(t, "27 unread over two pages", dr.get("/inbox").Body, "<title>(27) ", "Older conversations")
	dr.get("/threads/" + ids[0]) // the oldest, on the second page: read
	dr.post("/threads/"+ids[1]+"/archive", url.Values{"archive": {"1"}})
	contains(t, "one read, one archived", dr.get("/inbox").Body, "<title>(25) ")
	must(t, "no count on other pages", !strings.Contains(dr.get("/threads/"+ids[2]).Body, `class="badge"`))
}
