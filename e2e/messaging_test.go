package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The Provider Services teams of the demo data.
const (
	teamLA = "Provider Services – Los Angeles County"
	teamSD = "Provider Services – San Diego County"
)

// createStaff adds an active representative to team (created if needed) and
// returns the user and the team's id.
func (s *site) createStaff(email, name, team string) (accounts.User, int64) {
	s.t.Helper()
	ctx := context.Background()
	u, err := s.App.Accounts.CreateUser(ctx, email, name, accounts.RoleStaff, goodPassword, 0, "")
	if err != nil {
		s.t.Fatalf("create staff %s: %v", email, err)
	}
	teamID, err := postgres.EnsureTeam(ctx, s.App.Pool, team, "Cal MediConnect")
	if err != nil {
		s.t.Fatalf("team %s: %v", team, err)
	}
	if err := postgres.AddTeamMember(ctx, s.App.Pool, teamID, u.ID); err != nil {
		s.t.Fatalf("add %s to %s: %v", email, team, err)
	}
	return u, teamID
}

// testFile is a file on disk that a person attaches, and its bytes.
type testFile struct {
	name, path string
	data       []byte
}

// newTestFile writes a PDF-looking file of size random bytes into dir.
func newTestFile(t *testing.T, dir, name string, size int) testFile {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	copy(data, "%PDF-1.7\n")
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return testFile{name: name, path: path, data: data}
}

// uploads feeds files to the messaging service when a journey's starting
// point (an earlier message) is set up without the browser.
type uploads []testFile

func (u *uploads) Next() (messaging.Upload, error) {
	if len(*u) == 0 {
		return messaging.Upload{}, io.EOF
	}
	f := (*u)[0]
	*u = (*u)[1:]
	return messaging.Upload{Name: f.name, Body: bytes.NewReader(f.data)}, nil
}

// watchUploadJS runs just before the sender presses the send button: it
// watches the upload progress box of static/js/upload.js and keeps what it
// saw in sessionStorage, which outlives the page (upload.js leaves for the
// thread page as soon as the upload is done).
const watchUploadJS = `(() => {
  const box = document.querySelector('[data-upload-progress]');
  const bar = document.getElementById('upload-progress-bar');
  const status = box.querySelector('[data-upload-status]');
  const seen = {shown: false, max: 0, statuses: []};
  const look = () => {
    if (!box.hidden && bar.getClientRects().length > 0) seen.shown = true;
    seen.max = Math.max(seen.max, Number(bar.value));
    const s = status.textContent.trim();
    if (s && seen.statuses[seen.statuses.length - 1] !== s) seen.statuses.push(s);
    sessionStorage.setItem('e2e-upload', JSON.stringify(seen));
  };
  sessionStorage.removeItem('e2e-upload');
  new MutationObserver(look).observe(box, {attributes: true, childList: true, characterData: true, subtree: true});
  return true;
})()`

type uploadSeen struct {
	Shown    bool     `json:"shown"`
	Max      float64  `json:"max"`
	Statuses []string `json:"statuses"`
}

func (tb *tab) watchUpload() { eval[bool](tb, watchUploadJS) }

// expectUploadWatched checks, on the page after sending, that the progress
// bar appeared while the files uploaded and reached 100%.
func (tb *tab) expectUploadWatched(what string) {
	tb.t.Helper()
	seen := eval[uploadSeen](tb, `JSON.parse(sessionStorage.getItem('e2e-upload') || '{}')`)
	if !seen.Shown || seen.Max != 100 || !slices.Contains(seen.Statuses, "100% sent") {
		tb.t.Errorf("%s: the upload progress bar was not watched to the end: shown %v, highest value %v, statuses %q",
			what, seen.Shown, seen.Max, seen.Statuses)
	}
	tb.t.Logf("%s: upload progress seen: %q", what, seen.Statuses)
}

// count is how many elements match a CSS selector.
func (tb *tab) count(css string) int {
	tb.t.Helper()
	return eval[int](tb, fmt.Sprintf(`document.querySelectorAll(%q).length`, css))
}

// texts are the trimmed texts of every element matching a CSS selector.
func (tb *tab) texts(css string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll(%q)].map((e) => e.textContent.trim())`, css))
}

// signIn signs in from the sign-in page and waits for the landing page.
func (tb *tab) signIn(email, name string, landing chromedp.CSS) {
	tb.t.Helper()
	tb.navigate("/login")
	tb.waitFor(testid("login-page"))
	tb.typeInto("email", email)
	tb.typeInto("password", goodPassword)
	tb.click(button("Sign in"))
	tb.expectSignedInAt(landing, name)
}

// expectEmptyInbox checks a fresh inbox: no rows, the empty state explaining
// what will appear there.
func (tb *tab) expectEmptyInbox(wantText string) {
	tb.t.Helper()
	tb.waitFor(testid("empty-inbox"))
	if n := tb.count(`[data-testid="thread-row"]`); n != 0 {
		tb.t.Errorf("empty inbox shows %d conversations", n)
	}
	if got := tb.text(testid("empty-inbox")); !strings.Contains(got, wantText) {
		tb.t.Errorf("empty inbox says %q, want it to mention %q", got, wantText)
	}
}

var threadPath = regexp.MustCompile(`^/(?:staff/)?threads/([0-9a-f-]{36})(\?.*)?$`)

// threadID is the id in the current page's thread URL.
func (tb *tab) threadID() string {
	tb.t.Helper()
	m := threadPath.FindStringSubmatch(tb.path())
	if m == nil {
		tb.t.Fatalf("the browser is at %s, not on a thread", tb.path())
	}
	return m[1]
}

// expectSent checks the page after sending: the thread, with the notice.
func (tb *tab) expectSent(prefix string) string {
	tb.t.Helper()
	tb.waitFor(testid("thread-page"))
	if p := tb.path(); !strings.HasPrefix(p, prefix) || !strings.HasSuffix(p, "?sent=1") {
		tb.t.Errorf("after sending the browser is at %s, want %s{id}?sent=1", p, prefix)
	}
	if got := tb.text(testid("notice")); got != "Your message was sent securely." {
		tb.t.Errorf("notice after sending = %q", got)
	}
	return tb.threadID()
}

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

	p.click(link("Inbox"))
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

	j.click(link("Inbox"))
	j.waitFor(testid("inbox-page"))
	if got := j.texts(`[data-testid="thread-row"] .thread-link`); !slices.Equal(got, []string{subject, earlier}) {
		t.Errorf("inbox lists %q, want the new message first: %q", got, []string{subject, earlier})
	}
	j.checkPage("inbox-after-sending")

	// The team hears of it.
	j.site.linkIn(j.site.mailTo("sam.duarte@healthnet.example", "[SECURE]"), "/staff/threads/")
}

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

	j.click(button("Withdraw this message"))
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
