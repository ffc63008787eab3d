package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// An emailed reply carries the earlier messages quoted below it; the thread
// shows the reply's own words and folds the quote.
func TestQuotedHistoryIsFolded(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena Ortiz", "Provider Services – Los Angeles County")
	s.provider("dr.quote@clinic.example")
	staff := s.signedIn("rep.la@plan.example")
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr.quote@clinic.example"}, "subject": {"Call"}, "body": {"Can we call Tuesday?"}})
	must(t, "compose", p.Status == http.StatusSeeOther)
	tid := threadID(t, p.Location)
	dr := s.signedIn("dr.quote@clinic.example")
	r := dr.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Yes, Tuesday works.\n\nOn Tue, Lena Ortiz wrote:\n> Can we call Tuesday?"}})
	must(t, "reply", r.Status == http.StatusSeeOther)
	body := staff.get(p.Location).Body
	i := strings.Index(body, "Yes, Tuesday works.")
	q := strings.Index(body, `data-testid="quoted"`)
	if i < 0 || q < i || !strings.Contains(body[q:], "&gt; Can we call Tuesday?") {
		t.Errorf("the reply's quote is not folded under its own words")
	}
}
