package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/messaging"
)

// The representative's workbench (issue 14): two representatives of one
// team. Lena takes a provider's thread, then goes out of office; the
// provider replies; Marco finds the thread among the team's unassigned
// ones, searches for it by a word of the reply, leaves an internal note,
// answers with the team's saved reply and marks it done; the provider's
// next message reopens it. Every page passes axe and fits a phone.
func TestJourneyWorkbenchTwoRepresentativesShareAThread(t *testing.T) {
	j := startJourney(t, "J14 workbench", nil)
	ctx := context.Background()
	_, teamID := j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	marco, _ := j.site.createStaff("marco.ruiz@healthnet.example", "Marco Ruiz", teamLA)
	dr := j.site.createProvider("dr.shah@harborpeds.example", "Dr. Priya Shah", goodPassword)
	provider := messaging.Viewer{UserID: dr.ID, IP: "127.0.0.1"}
	const subject = "Knee brace for a member"
	tid, err := j.site.App.Messages.StartFromProvider(ctx, provider, fmt.Sprintf("team:%d", teamID), subject, "Which form covers a knee brace?", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.site.App.Messages.AddSavedReply(ctx, messaging.Viewer{UserID: marco.ID, Staff: true, IP: "127.0.0.1"}, teamID,
		"Order received", "Thank you, we received the order and will confirm coverage within two business days."); err != nil {
		t.Fatal(err)
	}

	// Lena takes the thread, then sets her out of office.
	j.signInAs("lena.ortiz@healthnet.example", "Lena Ortiz", testid("inbox-page"))
	j.click(link(subject))
	j.waitFor(testid("thread-page"))
	j.click(button("Take it"))
	j.waitFor(testid("thread-page"))
	if got := j.text(testid("owner-now")); got != "You" {
		t.Fatalf("after taking it, the owner reads %q", got)
	}
	j.navigate("/account/away")
	j.waitFor(testid("away-page"))
	j.checkPage("out of office")
	j.expectFitsPhone("out of office")
	today, nextWeek := time.Now().Format("2006-01-02"), time.Now().AddDate(0, 0, 7).Format("2006-01-02")
	j.setValue("field-away_from", today)
	j.setValue("field-away_until", nextWeek)
	j.click(button("Save"))
	j.waitFor(testid("account-page"))
	if got := j.text(testid("away-state")); !strings.Contains(got, "Away until the end of "+nextWeek) {
		t.Errorf("account page says %q", got)
	}

	// The provider answers with a word Marco will search for.
	if err := j.site.App.Messages.Reply(ctx, provider, tid, "The order number is KB-5521; the brace is for the left knee.", nil); err != nil {
		t.Fatal(err)
	}
	j.site.mailTo("marco.ruiz@healthnet.example", "[SECURE]")

	m := newTab(t, j.site.URL, "J14 Marco")
	m.site = j.site
	m.signInAs("marco.ruiz@healthnet.example", "Marco Ruiz", testid("inbox-page"))
	m.click(link("Team unassigned"))
	m.waitFor(testid("inbox-page"))
	if got := m.texts(`[data-testid="thread-row"] .thread-link`); len(got) != 1 || got[0] != subject {
		t.Errorf("Team unassigned lists %q, want the thread Lena owns while she is away", got)
	}
	m.click(link("All"))
	m.waitFor(testid("inbox-page"))
	m.typeIntoID("search-q", "kb-5521")
	m.click(button("Search"))
	m.waitFor(testid("search-summary"))
	if got := m.text(testid("search-summary")); got != "1 conversation matches." {
		t.Errorf("search says %q", got)
	}
	m.checkPage("search results")
	m.expectFitsPhone("search results")
	m.click(link(subject))
	m.waitFor(testid("thread-page"))
	if got := m.text(testid("owner-now")); !strings.Contains(got, "out of office until the end of "+nextWeek) {
		t.Errorf("the owner line reads %q", got)
	}

	m.typeInto("note", "Called the office: the brace is urgent, surgery on Friday.")
	m.click(button("Add internal note"))
	m.waitFor(testid("thread-page"))
	m.setValue("saved", m.savedReplyValue("Order received"))
	m.click(button("Put it in the reply box"))
	m.waitFor(testid("thread-page"))
	if got := m.value("body"); !strings.HasPrefix(got, "Thank you, we received the order") {
		t.Fatalf("the reply box holds %q", got)
	}
	m.checkPage("thread with a saved reply")
	m.expectFitsPhone("thread with a saved reply")
	m.click(button("Send reply"))
	m.waitFor(testid("thread-page"))
	m.setValue("field-status", "done")
	m.click(button("Change status"))
	m.waitFor(testid("thread-page"))
	m.navigate("/staff?filter=done")
	m.waitFor(testid("inbox-page"))
	if got := m.texts(`[data-testid="thread-row"] .thread-link`); len(got) != 1 || got[0] != subject {
		t.Errorf("Done lists %q", got)
	}

	// The provider never sees the note; their next message reopens it.
	th, err := j.site.App.Messages.Thread(ctx, provider, tid)
	if err != nil {
		t.Fatal(err)
	}
	if len(th.Notes) != 0 || !strings.Contains(th.Messages[len(th.Messages)-1].Body, "two business days") {
		t.Errorf("the provider sees %d notes and last message %q", len(th.Notes), th.Messages[len(th.Messages)-1].Body)
	}
	if err := j.site.App.Messages.Reply(ctx, provider, tid, "Thanks. Surgery is Friday.", nil); err != nil {
		t.Fatal(err)
	}
	m.navigate("/staff?filter=done")
	m.waitFor(testid("empty-inbox"))
	m.navigate("/staff?filter=open")
	m.waitFor(testid("inbox-page"))
	if got := m.texts(`[data-testid="thread-row"] .thread-link`); len(got) != 1 || got[0] != subject {
		t.Errorf("after the provider's message, Not done lists %q", got)
	}
	m.navigate("/staff/replies")
	m.waitFor(testid("replies-page"))
	m.checkPage("saved replies")
	m.expectFitsPhone("saved replies")
}

// savedReplyValue is the option value of the saved reply titled title.
func (tb *tab) savedReplyValue(title string) string {
	tb.t.Helper()
	v := eval[string](tb, fmt.Sprintf(`([...document.querySelectorAll('#saved option')].find((o) => o.textContent.startsWith(%q)) || {}).value || ''`, title))
	if v == "" {
		tb.t.Fatalf("no saved reply %q to choose", title)
	}
	return v
}

// setValue sets the value of the element with id (a date input, a select),
// as choosing it would; for controls that typing does not fill the same way
// in every locale.
func (tb *tab) setValue(id, value string) {
	tb.t.Helper()
	tb.do("set #"+id, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).value = %q`, id, value)))
}
