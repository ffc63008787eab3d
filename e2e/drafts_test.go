package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Nothing typed is lost (issue 15), on a phone: a provider typing a reply
// is warned before the idle sign-out and stays signed in with one tap;
// the next time they let it pass, the box says so, and the reply they then
// send comes back after signing in, ready to send.
func TestJourneyIdleWarningAndTheKeptReply(t *testing.T) {
	// The warning comes a quarter before: at 15 s, leaving 5 s for the
	// page checks and the tap on a machine busy with the other journeys
	// (8 s, leaving 2, failed there).
	const idle = 20 * time.Second
	j := startJourney(t, "J15 idle warning and kept reply", map[string]string{"PORTAL_SESSION_IDLE": idle.String()})
	rep, _ := j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	email := "frontdesk@harborpeds.example"
	j.site.createProvider(email, "Harbor Pediatrics Front Desk", goodPassword)
	tid, err := j.site.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: rep.ID, Staff: true, IP: "127.0.0.1"},
		email, "Referral to cardiology", "Please confirm the appointment date.", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	j.do("switch to the phone viewport", chromedp.EmulateViewport(phoneWidth, phoneHeight, chromedp.EmulateMobile, chromedp.EmulateScale(2)))

	j.signIn(email, "Harbor Pediatrics Front Desk", testid("inbox-page"))
	j.navigate("/threads/" + tid)
	j.waitFor(testid("thread-page"))
	const reply = "The appointment is on the 14th at 9:30."
	j.typeInto("body", reply)
	start := time.Now()
	j.waitFor(testid("idle-warning"))
	j.checkPage("idle warning")
	j.expectFitsPhone("idle warning")
	j.do("tap Stay signed in (no page load)", chromedp.Click(button("Stay signed in"), chromedp.NodeVisible), chromedp.WaitNotVisible(testid("idle-warning")))
	// Past the first idle period: still signed in, the reply still typed.
	j.do("wait past the first deadline", chromedp.Sleep(time.Until(start.Add(idle))+time.Second))
	if got := eval[bool](j.tab, `document.getElementById('idle-warning').hidden`); !got {
		t.Errorf("after Stay signed in, the warning came back before its time")
	}

	// This time the deadline passes: the box says so.
	j.waitFor(testid("idle-warning"))
	j.do("the sign-out passes", chromedp.Sleep(idle/4+time.Second))
	if got := j.text(testid("idle-warning")); !strings.Contains(got, "You were signed out after a period without activity") {
		t.Errorf("after the deadline the box says %q", got)
	}
	j.click(button("Send reply"))
	j.waitFor(testid("login-page"))
	if got := j.text(testid("notice")); !strings.Contains(got, "before your message was sent") {
		t.Errorf("the sign-in page says %q", got)
	}
	j.checkPage("signed out with a kept reply")
	j.typeInto("email", email)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.waitFor(testid("thread-page"))
	if got := j.value("body"); got != reply {
		t.Errorf("after signing in the reply box holds %q, want %q", got, reply)
	}
	if got := j.text(testid("notice")); !strings.Contains(got, "It was kept while you signed in again") {
		t.Errorf("the thread says %q", got)
	}
	j.checkPage("reply kept")
	j.expectFitsPhone("reply kept")
	j.click(button("Send reply"))
	j.expectSent("/threads/")
	if n := j.count(`[data-testid="message"]`); n != 2 {
		t.Errorf("the thread shows %d messages after sending the kept reply, want 2", n)
	}

	// The front desk's profile and choice of emails, on the phone too.
	j.navigate("/account/profile")
	j.waitFor(testid("profile-page"))
	j.checkPage("profile")
	j.expectFitsPhone("profile")
}
