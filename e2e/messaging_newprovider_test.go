package e2e

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Journeys 1 and 2 (issue 7): a representative signs in, writes to a
// provider who has never used the portal, attaches a large file and watches
// it upload, and signs out. The provider, in their own browser, follows the
// link in the notification email, registers, lands on the message, downloads
// the file (the same bytes), replies with a file of their own, and goes to
// the inbox.
func TestJourney1And2MessageToNewProvider(t *testing.T) {
	j := startJourney(t, "J1+J2 message to a new provider", nil)
	staffEmail, providerEmail := "lena.ortiz@healthnet.example", "dr.verde@clinicaverde.example"
	j.site.createStaff(staffEmail, "Lena Ortiz", teamLA)
	dir := t.TempDir()
	lab := newTestFile(t, dir, "lab-results-march.pdf", 8<<20)
	consent := newTestFile(t, dir, "signed consent.pdf", 200<<10)
	const subject = "Lab results for your patient"
	const body = "Dear Dr. Verde,\nThe lab results you asked for are attached."

	// Journey 1: the representative.
	j.navigate("/login")
	j.waitFor(testid("login-page"))
	j.checkPage("sign-in")
	j.typeInto("email", staffEmail)
	j.typeInto("password", goodPassword)
	j.click(button("Sign in"))
	j.secondStep(staffEmail)
	j.expectSignedInAt(testid("inbox-page"), "Lena Ortiz")
	j.expectEmptyInbox("Threads you or your teams have with providers appear here")
	j.checkPage("staff-inbox-empty")

	j.click(link("New message"))
	j.waitFor(testid("compose-page"))
	j.checkPage("staff-compose")
	j.expectFitsPhone("staff-compose")
	j.typeInto("to", providerEmail)
	j.typeInto("subject", subject)
	j.typeInto("body", body)
	j.chooseFiles("attachments", lab.path)
	j.watchUpload()
	j.click(button("Send securely"))
	tid := j.expectSent("/staff/threads/")
	j.expectUploadWatched("staff compose with 8 MB")
	if got := j.texts(`[data-testid="attachment"]`); !slices.Equal(got, []string{lab.name}) {
		t.Errorf("sent message lists attachments %q, want %q", got, lab.name)
	}
	if got := j.text(testid("read-note")); got != "Not opened yet" {
		t.Errorf("read status of the new message = %q, want Not opened yet", got)
	}
	j.checkPage("staff-thread-sent")
	j.click(button("Sign out"))
	j.waitFor(testid("login-page"))
	j.checkPage("staff-signed-out")

	// The notification: marked secure, no PHI, a registration link, and the
	// same link in the attached SecureMessage.html.
	m := j.site.mailTo(providerEmail, "[SECURE] New secure message from Health Net")
	if !strings.HasPrefix(m.Subject, "[SECURE] New secure message from Health Net") {
		t.Errorf("notification subject = %q", m.Subject)
	}
	for _, phi := range []string{subject, "lab results you asked", lab.name} {
		if strings.Contains(string(m.Raw), phi) {
			t.Errorf("notification email contains %q", phi)
		}
	}
	registerLink := j.site.linkIn(m, "/register/")
	if len(m.Attachments) != 1 || m.Attachments[0].Filename != "SecureMessage.html" || !strings.Contains(string(m.Attachments[0].Data), registerLink) {
		t.Errorf("notification should carry SecureMessage.html with the link %s; attachments: %d", registerLink, len(m.Attachments))
	}

	// Journey 2: the provider, in their own browser.
	p := newTab(t, j.site.URL, "J2 provider")
	downloads := p.allowDownloads()
	p.navigate(registerLink)
	p.waitFor(testid("register-page"))
	p.checkPage("register")
	p.typeInto("name", "Dr. Inés Verde")
	p.typeInto("password", goodPassword)
	p.typeInto("password_confirm", goodPassword)
	p.click(button("Register and open my messages"))
	p.expectSignedInAt(testid("thread-page"), "Dr. Inés Verde")
	if got := p.path(); got != "/threads/"+tid {
		t.Errorf("registration landed on %s, want the message at /threads/%s", got, tid)
	}
	if got := p.text(chromedp.CSS("h1")); got != subject {
		t.Errorf("thread heading = %q, want %q", got, subject)
	}
	if got := p.text(testid("message-body")); got != body {
		t.Errorf("message body = %q, want %q", got, body)
	}
	if got := p.text(chromedp.CSS(".message-head strong")); got != "Lena Ortiz" {
		t.Errorf("message sender = %q, want Lena Ortiz", got)
	}
	p.checkPage("thread")
	p.expectFitsPhone("thread")
	p.expectPrintable()

	if got := p.download(downloads, lab.name, len(lab.data)); !bytes.Equal(got, lab.data) {
		t.Errorf("downloaded %s differs from what was sent", lab.name)
	}

	p.typeInto("body", "Thank you. The signed consent form is attached.")
	p.chooseFiles("attachments", consent.path)
	p.watchUpload()
	p.click(button("Send reply"))
	if got := p.expectSent("/threads/"); got != tid {
		t.Errorf("the reply went to thread %s, want %s", got, tid)
	}
	p.expectUploadWatched("provider reply")
	if n := p.count(`[data-testid="message"]`); n != 2 {
		t.Errorf("thread shows %d messages after the reply, want 2", n)
	}
	own := p.texts(`.message-own [data-testid="attachment"]`)
	if !slices.Equal(own, []string{consent.name}) {
		t.Errorf("the reply lists attachments %q, want %q", own, consent.name)
	}
	p.checkPage("thread-replied")

	p.click(navLink("Inbox"))
	p.waitFor(testid("inbox-page"))
	if got := p.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{subject}) {
		t.Errorf("inbox lists %q, want just %q", got, subject)
	}
	if n := p.count(`[data-testid="thread-row"].unread`); n != 0 {
		t.Errorf("inbox shows %d unread conversations after reading", n)
	}
	p.checkPage("inbox")
	p.expectFitsPhone("inbox")

	// The representative hears of the reply (without its content).
	sm := j.site.mailTo(staffEmail, "[SECURE]")
	j.site.linkIn(sm, "/staff/threads/"+tid)
}
