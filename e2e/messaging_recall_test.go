package e2e

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Journey 6 (issue 7): the provider opens a representative's message and
// replies with a file; the representative sees that it was opened and the
// reply, downloads the file, and withdraws the message; the provider reloads
// the page and sees it withdrawn.
func TestJourney6ReadStatusReplyAndRecall(t *testing.T) {
	j := startJourney(t, "J6 read status, reply and recall", nil)
	staffEmail, email := "lena.ortiz@healthnet.example", "office@eastsideortho.example"
	rep, _ := j.site.createStaff(staffEmail, "Lena Ortiz", teamLA)
	j.site.createProvider(email, "Eastside Orthopedics", goodPassword)
	dir := t.TempDir()
	referral := newTestFile(t, dir, "referral.pdf", 50<<10)
	xray := newTestFile(t, dir, "xray report.pdf", 300<<10)
	const subject = "Referral for your patient"
	files := uploads{referral}
	if _, err := j.site.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: rep.ID, Staff: true, IP: "127.0.0.1"},
		email, subject, "Please see the attached referral.", 0, &files); err != nil {
		t.Fatal(err)
	}

	// The provider opens it and replies with a file.
	p := newTab(t, j.site.URL, "J6 provider")
	p.signIn(email, "Eastside Orthopedics", testid("inbox-page"))
	if n := p.count(`[data-testid="thread-row"].unread`); n != 1 {
		t.Errorf("provider inbox shows %d unread conversations, want 1", n)
	}
	p.checkPage("inbox-unread")
	p.click(link(subject))
	p.waitFor(testid("thread-page"))
	p.checkPage("thread")
	p.typeInto("body", "Thanks. The X-ray report is attached.")
	p.chooseFiles("attachments", xray.path)
	p.click(button("Send reply"))
	p.expectSent("/threads/")
	p.checkPage("thread-replied")

	// The representative.
	j.signIn(staffEmail, "Lena Ortiz", testid("inbox-page"))
	if got := j.text(chromedp.CSS(`[data-testid="thread-row"]`)); !strings.Contains(got, "Awaiting your reply") || !strings.Contains(got, "1 unread") {
		t.Errorf("staff inbox row = %q, want it unread and awaiting a reply", got)
	}
	j.checkPage("staff-inbox")
	j.click(link("Awaiting reply"))
	j.waitFor(testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{subject}) {
		t.Errorf("Awaiting reply lists %q, want %q", got, subject)
	}
	j.checkPage("staff-inbox-awaiting")

	j.click(link(subject))
	j.waitFor(testid("thread-page"))
	if got := j.text(testid("read-note")); !strings.HasPrefix(got, "Opened ") {
		t.Errorf("read status of the message the provider opened = %q, want Opened <time>", got)
	}
	if got := j.texts(`[data-testid="message-body"]`); len(got) != 2 || got[1] != "Thanks. The X-ray report is attached." {
		t.Errorf("staff thread bodies = %q, want the provider's reply last", got)
	}
	j.checkPage("staff-thread")
	downloads := j.allowDownloads()
	if got := j.download(downloads, xray.name, len(xray.data)); !bytes.Equal(got, xray.data) {
		t.Errorf("downloaded %s differs from what the provider sent", xray.name)
	}

	j.click(link("Withdraw this message"))
	j.waitFor(testid("recall-confirm-page"))
	j.checkPage("recall-confirm")
	j.click(button("Withdraw"))
	j.waitFor(testid("thread-page"))
	if got := j.path(); got != "/staff/threads/"+p.threadID() {
		t.Errorf("after withdrawing the browser is at %s", got)
	}
	if n := j.count(`[data-testid="withdrawn"]`); n != 1 {
		t.Errorf("staff thread shows %d withdrawn messages, want 1", n)
	}
	if got := j.texts(`[data-testid="attachment"]`); !slices.Equal(got, []string{xray.name}) {
		t.Errorf("after withdrawing, the thread lists attachments %q, want only the provider's %q", got, xray.name)
	}
	j.checkPage("staff-thread-withdrawn")

	// The provider, still on the thread, reloads it.
	p.andWaitForPage("reload the thread", chromedp.Reload())
	p.waitFor(testid("withdrawn"))
	if got := p.text(testid("withdrawn")); !strings.HasPrefix(got, "This message was withdrawn by its sender") {
		t.Errorf("withdrawn message reads %q", got)
	}
	if got := p.texts(`[data-testid="attachment"]`); !slices.Equal(got, []string{xray.name}) {
		t.Errorf("after the recall the provider's thread lists attachments %q, want only their own %q", got, xray.name)
	}
	if got := p.texts(`[data-testid="message-body"]`); len(got) != 1 {
		t.Errorf("after the recall the provider sees bodies %q, want only their reply", got)
	}
	p.checkPage("thread-withdrawn")
}
