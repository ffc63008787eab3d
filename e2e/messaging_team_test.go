package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Journey 3 (issue 7): a provider who already corresponds with a
// representative writes a new message to a Provider Services team, choosing
// it from the recipient list with the keyboard.
func TestJourney3ProviderWritesToATeam(t *testing.T) {
	j := startJourney(t, "J3 provider writes to a team", nil)
	rep, teamLAID := j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	_, teamSDID := j.site.createStaff("sam.duarte@healthnet.example", "Sam Duarte", teamSD)
	email := "dr.shah@harborpeds.example"
	j.site.createProvider(email, "Dr. Priya Shah", goodPassword)
	// Where the journey starts: a message from the representative.
	const earlier = "Updated fee schedule"
	if _, err := j.site.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: rep.ID, Staff: true, IP: "127.0.0.1"},
		email, earlier, "The 2025 fee schedule takes effect next month.", 0, nil); err != nil {
		t.Fatal(err)
	}

	j.signIn(email, "Dr. Priya Shah", testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{earlier}) {
		t.Errorf("inbox lists %q, want %q", got, earlier)
	}
	j.checkPage("inbox")
	j.expectFitsPhone("inbox")

	j.click(link("New message"))
	j.waitFor(testid("compose-page"))
	options := j.texts(`#field-to option`)
	values := eval[[]string](j.tab, `[...document.querySelectorAll('#field-to option')].map((o) => o.value)`)
	for _, want := range []string{fmt.Sprintf("staff:%d", rep.ID), fmt.Sprintf("team:%d", teamLAID), fmt.Sprintf("team:%d", teamSDID)} {
		if !slices.Contains(values, want) {
			t.Errorf("recipient list has no %s; it offers %q (%q)", want, values, options)
		}
	}
	j.checkPage("compose")
	j.expectFitsPhone("compose")

	// Choose the San Diego team: click the label (which focuses the list)
	// and step down the options with the arrow key.
	want := fmt.Sprintf("team:%d", teamSDID)
	j.do("click the To label", chromedp.Click(chromedp.CSS(`label[for="field-to"]`), chromedp.NodeVisible))
	for range len(values) {
		if j.value("to") == want {
			break
		}
		j.press(kb.ArrowDown)
	}
	if got := j.value("to"); got != want {
		t.Fatalf("the arrow keys did not reach %s: the list shows %s", want, got)
	}
	if got := eval[string](j.tab, `document.getElementById('field-to').selectedOptions[0].textContent.trim()`); !strings.HasPrefix(got, teamSD) {
		t.Errorf("chosen recipient reads %q, want %s", got, teamSD)
	}
	const subject = "Authorization question"
	j.typeInto("subject", subject)
	j.typeInto("body", "Which form do we use for a prior authorization of physical therapy?")
	j.click(button("Send securely"))
	j.expectSent("/threads/")
	if got := j.text(chromedp.CSS("[data-testid=thread-page] > .hint")); got != "With "+teamSD {
		t.Errorf("new thread is %q, want With %s", got, teamSD)
	}
	j.checkPage("thread-sent")

	j.click(navLink("Inbox"))
	j.waitFor(testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{subject, earlier}) {
		t.Errorf("inbox lists %q, want the new message first: %q", got, []string{subject, earlier})
	}
	j.checkPage("inbox-after-sending")

	// The team hears of it.
	j.site.linkIn(j.site.mailTo("sam.duarte@healthnet.example", "[SECURE]"), "/staff/threads/")
}
