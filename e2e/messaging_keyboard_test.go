package e2e

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Journey 2 with the keyboard alone (issue 7: "the whole journey 2 doable
// with the keyboard alone"). A representative's message with a file reaches
// a provider who has never used the portal (set up through the messaging
// service; journey 1 does it in the browser). The provider follows the
// emailed link and from then on only presses keys (Tab, Enter, Space and
// typing): registers, lands on the message, downloads the file, writes a
// reply, chooses a file for it, sends it, and goes to the inbox through the
// header navigation. Every element that takes focus on the way must show it.
// The only step that is not a key press is handing the file to the browser's
// file chooser, as the operating system's dialog would (see
// chooseFilesByKeyboard).
func TestJourney2KeyboardOnly(t *testing.T) {
	j := startJourney(t, "J2 keyboard only", nil)
	rep, _ := j.site.createStaff("lena.ortiz@healthnet.example", "Lena Ortiz", teamLA)
	email := "dr.okafor@lakeside.example"
	dir := t.TempDir()
	referral := newTestFile(t, dir, "referral.pdf", 64<<10)
	consent := newTestFile(t, dir, "signed consent.pdf", 32<<10)
	const subject = "Referral for your patient"
	const reply = "Thank you. The signed consent form is attached."
	files := uploads{referral}
	tid, err := j.site.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: rep.ID, Staff: true, IP: "127.0.0.1"},
		email, subject, "Please see the attached referral.", 0, &files)
	if err != nil {
		t.Fatal(err)
	}
	downloads := j.allowDownloads()

	j.navigate(j.site.mailLink(email, "[SECURE] New secure message", "/register/"))
	j.waitFor(testid("register-page"))
	j.checkPage("register")

	// The first Tab on a page lands on the skip link, which must appear.
	j.press(kb.Tab)
	if f := j.focused(); f.Text != "Skip to main content" || !f.Visible {
		t.Errorf("first Tab focused %s %q (visible focus: %v), want the visible skip link", f.Tag, f.Text, f.Visible)
	}

	j.tabTo("field-name")
	j.press("Dr. Chidi Okafor")
	j.tabTo("field-password")
	j.press(goodPassword)
	j.tabTo("field-password_confirm")
	j.press(goodPassword)
	j.press(kb.Tab)
	if f := j.focused(); f.Tag != "BUTTON" || f.Text != "Register and open my messages" || !f.Visible {
		t.Fatalf("Tab after the last field focused %s %q (visible focus: %v), want the register button", f.Tag, f.Text, f.Visible)
	}
	j.andWaitForPage("press Enter on the register button", chromedp.KeyEvent(kb.Enter))
	j.expectSignedInAt(testid("thread-page"), "Dr. Chidi Okafor")
	if got := j.path(); got != "/threads/"+tid {
		t.Errorf("registration landed on %s, want the message at /threads/%s", got, tid)
	}
	j.checkPage("thread")

	// The file: Tab to its link, Enter.
	j.tabToText("A", referral.name)
	j.press(kb.Enter)
	if got := j.downloaded(downloads, referral.name, len(referral.data)); !bytes.Equal(got, referral.data) {
		t.Errorf("downloaded %s differs from what was sent", referral.name)
	}

	// The reply: type it, choose a file with Space on the file input, and
	// send it with Enter on the button.
	j.tabTo("field-body")
	j.press(reply)
	j.tabTo("field-attachments")
	j.chooseFilesByKeyboard(" ", consent.path)
	if got := eval[[]string](j.tab, `[...document.getElementById('field-attachments').files].map((f) => f.name)`); !slices.Equal(got, []string{consent.name}) {
		t.Fatalf("after the file chooser the attachments field holds %q, want %q", got, consent.name)
	}
	if f := j.focused(); f.ID != "field-attachments" {
		t.Errorf("after the file chooser focus is on %s#%s, want it back on #field-attachments", f.Tag, f.ID)
	}
	j.press(kb.Tab)
	if f := j.focused(); f.Tag != "BUTTON" || f.Text != "Send reply" || !f.Visible {
		t.Fatalf("Tab after the attachments field focused %s %q (visible focus: %v), want the Send reply button", f.Tag, f.Text, f.Visible)
	}
	j.andWaitForPage("press Enter on Send reply", chromedp.KeyEvent(kb.Enter))
	if got := j.expectSent("/threads/"); got != tid {
		t.Errorf("the reply went to thread %s, want %s", got, tid)
	}
	if got := j.texts(`[data-testid="message-body"]`); len(got) != 2 || got[1] != reply {
		t.Errorf("thread bodies after the reply = %q, want the reply last", got)
	}
	if own := j.texts(`.message-own [data-testid="attachment"]`); !slices.Equal(own, []string{consent.name}) {
		t.Errorf("the reply lists attachments %q, want %q", own, consent.name)
	}
	j.checkPage("thread-replied")

	// The inbox, through the header navigation.
	j.tabToText("A", "Inbox")
	if !eval[bool](j.tab, `!!document.activeElement.closest('nav[aria-label="Main"]')`) {
		t.Errorf("the Inbox link Tab reached is not in the header navigation")
	}
	j.andWaitForPage("press Enter on Inbox", chromedp.KeyEvent(kb.Enter))
	j.waitFor(testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{subject}) {
		t.Errorf("inbox lists %q, want just %q", got, subject)
	}
	j.checkPage("inbox")

	// Signing out is keyboard operable too.
	j.tabToText("BUTTON", "Sign out")
	j.andWaitForPage("press Enter on Sign out", chromedp.KeyEvent(kb.Enter))
	j.waitFor(testid("login-page"))
	j.checkPage("signed-out")
}
