package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// While the owner of a thread is out of office, the provider's new message
// goes to the rest of the team and the thread shows as the team's; back at
// the desk, it comes to the owner again.
func TestOutOfOfficeHandsProviderMessagesToTheTeam(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.staffIn("mate.la@plan.example", "Marco", "LA")
	s.provider("dr@clinic.example")
	lena, marco := s.signedIn("rep.la@plan.example"), s.signedIn("mate.la@plan.example")
	tid := threadID(t, lena.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"Referral"}, "body": {"Please confirm."}}).Location)
	prov := s.signedIn("dr@clinic.example")

	contains(t, "account page", lena.get("/account").Body, `data-testid="away-state"`, "Not set", `href="/account/away"`)
	today := time.Now().Format("2006-01-02")
	inAWeek := time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	p := lena.post("/account/away", url.Values{"away_from": {today}, "away_until": {inAWeek}})
	must(t, "saved: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/account?changed=away")
	contains(t, "account page says so", lena.get(p.Location).Body, "Your out of office was saved.", "Away until the end of "+inAWeek)
	must(t, "audited", s.audited("account.away_set", `{"until":"`+time.Now().AddDate(0, 0, 8).Format("2006-01-02")+`T00:00:00Z"}`) == 1)

	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"Confirmed."}})
	s.mailTo("mate.la@plan.example", "[SECURE]", "")
	contains(t, "the teammate sees it as the team's", marco.get("/staff?filter=unassigned").Body, "Referral")
	contains(t, "the thread says why", marco.get("/staff/threads/"+tid).Body, "out of office until the end of "+inAWeek)
	for _, m := range s.mail.Messages() {
		must(t, "nothing to the owner while away: "+m.Subject, !strings.EqualFold(m.To[0], "rep.la@plan.example") || !strings.Contains(m.Subject, "[SECURE]"))
	}

	p = lena.post("/account/away", url.Values{"away_from": {""}, "away_until": {""}})
	must(t, "cleared", p.Status == http.StatusSeeOther && s.audited("account.away_set", `{"cleared":true}`) == 1)
	contains(t, "back", lena.get("/account/away").Body, "Not set")
	prov.postMessage("/threads/"+tid+"/reply", url.Values{"body": {"One more thing."}})
	s.mailTo("rep.la@plan.example", "[SECURE]", "")
	must(t, "the team's no more", !strings.Contains(marco.get("/staff?filter=unassigned").Body, "Referral"))
}

// Out-of-office days are checked, and only staff have one.
func TestOutOfOfficeExplainsBadDays(t *testing.T) {
	s := newSite(t, nil)
	s.staffIn("rep.la@plan.example", "Lena", "LA")
	s.provider("dr@clinic.example")
	lena := s.signedIn("rep.la@plan.example")
	today := time.Now()
	day := func(d int) string { return today.AddDate(0, 0, d).Format("2006-01-02") }
	for _, c := range []struct {
		from, until, want string
	}{
		{day(1), "", "Enter the last day you are away."},
		{"", day(1), "Enter the first day you are away."},
		{"next week", day(1), "Enter the day as year-month-day"},
		{day(3), day(1), "The last day away must be on or after the first."},
		{day(-9), day(-2), "That day has passed; choose a day from today on."},
		{day(0), day(400), "Set at most a year at a time."},
	} {
		p := lena.post("/account/away", url.Values{"away_from": {c.from}, "away_until": {c.until}})
		must(t, c.from+" to "+c.until+": status", p.Status == http.StatusUnprocessableEntity)
		contains(t, c.from+" to "+c.until, p.Body, c.want, `data-testid="away-page"`)
	}
	must(t, "nothing saved", s.audited("account.away_set", "{}") == 0)
	prov := s.signedIn("dr@clinic.example")
	must(t, "a provider has no out of office", prov.get("/account/away").Status == http.StatusNotFound &&
		prov.post("/account/away", url.Values{"away_from": {day(0)}, "away_until": {day(1)}}).Status == http.StatusNotFound)
	must(t, "nor sees it on the account page", !strings.Contains(prov.get("/account").Body, "away-state"))
}
