package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
)

const (
	// staffMessages are sent to as many new providers while the portal
	// mails their notifications; the kill comes in the middle.
	staffMessages = 50
	// rescueAfter is PORTAL_JOB_RESCUE_AFTER for the test: jobs the killed
	// process left running are taken up again after it.
	rescueAfter = "6s"
	// sessionDelay slows every SMTP session down so that mail is in flight
	// when the portal is killed.
	sessionDelay = 150 * time.Millisecond
	// heldAtQuit sessions are held at QUIT when the portal is killed: their
	// mail is accepted and recorded, their jobs not finished.
	heldAtQuit = 3
	password   = "granite meadow lighthouse echoes"
)

// kill -9 while notifications go out: after a restart every notification
// reaches its recipient exactly once, links in the ones sent before the
// crash still work, and a reply with an attachment acknowledged (303)
// before the crash is there and decrypts.
func TestCrashWhileNotifyingLosesAndDoublesNothing(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	go portalBinary() // built while the data is prepared
	dbURL := pgtest.New(t)
	keyring, kr := newKeyring(t)
	sink := startSink(t, 1000)
	gate := startGate(t, sink.Addr(), sessionDelay)
	env := map[string]string{
		"PORTAL_DATABASE_URL":     dbURL,
		"PORTAL_KEYRING":          keyring,
		"PORTAL_SMTP_URL":         "smtp://" + gate.Addr() + "?tls=none",
		"PORTAL_MAIL_FROM":        "Secure Messaging <no-reply@portal.example>",
		"PORTAL_ORG_NAME":         "Health Net",
		"PORTAL_JOB_RESCUE_AFTER": rescueAfter,
	}

	// The same services the portal runs, in this process (not started), to
	// write what staff would.
	pool := pgtest.NewPoolFor(t, dbURL)
	svc := services(t, env, pool, kr)
	staff := activeUser(t, svc, "rep@plan.example", "Rita Rep", accounts.RoleStaff)
	doc := activeUser(t, svc, "doc@clinic.example", "Dr Doc", accounts.RoleProvider)
	asStaff := messaging.Viewer{UserID: staff.ID, Staff: true, IP: "192.0.2.1"}
	docThread, err := svc.Messages.StartToProvider(ctx, asStaff, doc.Email, "Prior authorisation", "Please send the scan.", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{doc.Email: true} // recipients owed one notification

	first := startPortal(t, env)

	// The provider replies with an attachment through HTTP: 303 means the
	// reply and its file are stored (and the representative is owed a
	// notification).
	scan := make([]byte, 256<<10)
	rand.Read(scan)
	for i := range scan {
		scan[i] = 'a' + scan[i]%26 // a text file: no type check stands in the way
	}
	web := signIn(t, first.addr, doc.Email)
	if status := reply(t, web, first.addr, docThread, "Scan attached.", "scan.txt", scan); status != http.StatusSeeOther {
		t.Fatalf("reply: %d, want 303", status)
	}
	want[staff.Email] = true

	for i := range staffMessages {
		to := fmt.Sprintf("newdoc%02d@clinic%02d.example", i, i)
		if _, err := svc.Messages.StartToProvider(ctx, asStaff, to, fmt.Sprintf("Referral %d", i), "Please see the patient.", 0, nil); err != nil {
			t.Fatal(err)
		}
		want[to] = true
	}
	acknowledged := len(want)

	// Kill in the middle: some notifications delivered, some held at QUIT
	// (accepted by the sink and recorded, their jobs still running), some
	// waiting to reach the sink (jobs running, nothing sent), the rest not
	// yet started.
	if !waitFor(ctx, 30*time.Second, func() bool { return len(sink.Messages()) >= 12 }) {
		t.Fatalf("only %d notifications after 30 s:\n%s", len(sink.Messages()), first.logText())
	}
	gate.holdQuits(heldAtQuit)
	if !waitFor(ctx, 10*time.Second, func() bool { _, _, q := gate.counts(); return q >= heldAtQuit }) {
		t.Fatal("no session reached QUIT")
	}
	gate.freezeNew()
	// Wait for every session to be before the sink (a few, as workers take
	// the next jobs) or held at QUIT; sessions passing QUIT end at once.
	if !waitFor(ctx, 10*time.Second, func() bool { w, a, q := gate.counts(); return a == 0 && q == heldAtQuit && w >= 2 }) {
		w, a, q := gate.counts()
		t.Fatalf("sessions not in place for the kill: %d before the sink, %d talking to it, %d at QUIT", w, a, q)
	}
	waiting, _, atQuit := gate.counts()
	before := len(sink.Messages())
	first.kill()
	killed := time.Now()
	gate.open()

	second := startPortal(t, env)
	done := func() bool {
		var unfinished int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND state <> 'completed'`).Scan(&unfinished); err != nil {
			t.Fatal(err)
		}
		return unfinished == 0 && len(sink.Messages()) >= acknowledged
	}
	if !waitFor(ctx, 60*time.Second, done) {
		t.Fatalf("not finished 60 s after the restart: %d of %d notifications\n%s", len(sink.Messages()), acknowledged, second.logText())
	}
	finished := time.Since(killed)
	time.Sleep(500 * time.Millisecond) // a late second copy would arrive now

	// Count at the sink, by recipient.
	got := map[string]int{}
	ids := map[string]int{}
	var links []string
	for _, m := range sink.Messages() {
		for _, to := range m.To {
			got[to]++
		}
		ids[headerOf(m.Raw, "Message-ID")]++
		for _, l := range m.Links() {
			if strings.Contains(l, "/register/") {
				links = append(links, l)
			}
		}
	}
	var delivered, duplicates, lost, strangers, sameID int
	for to, n := range got {
		if !want[to] {
			strangers += n
			continue
		}
		delivered++
		duplicates += n - 1
	}
	for to := range want {
		if got[to] == 0 {
			lost++
			t.Errorf("no notification reached %s", to)
		}
	}
	for id, n := range ids {
		if n > 1 {
			sameID += n - 1
			t.Errorf("Message-ID %s arrived %d times", id, n)
		}
	}
	var rescued int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'message_notification'
		AND errors::text LIKE '%Stuck job rescued%'`).Scan(&rescued); err != nil {
		t.Fatal(err)
	}
	skipped := second.logged("email already sent by an earlier attempt; not sending again")
	t.Logf("acknowledged %d, delivered %d, duplicates %d, lost %d, seconds to finish %.1f",
		acknowledged, delivered, duplicates, lost, finished.Seconds())
	t.Logf("at the kill: %d delivered, %d accepted by the sink with their jobs still running, %d not yet sent (%d of them at the sink's door)",
		before-atQuit, atQuit, acknowledged-before, waiting)
	t.Logf("after the restart: %d jobs left running were rescued (PORTAL_JOB_RESCUE_AFTER=%s); %d of them found their email already sent "+
		"and sent nothing (%d held at QUIT, %d finished before the kill but not yet recorded complete by River)",
		rescued, rescueAfter, skipped, atQuit, skipped-atQuit)
	if duplicates != 0 || lost != 0 || strangers != 0 {
		t.Errorf("duplicates %d, lost %d, mail to unknown recipients %d", duplicates, lost, strangers)
	}
	if skipped < atQuit || rescued < atQuit+waiting {
		t.Errorf("%d jobs skipped a send already made, want at least %d; %d rescued, want at least %d", skipped, atQuit, rescued, atQuit+waiting)
	}

	// Every registration link mailed still works: a job run again after
	// its email went out minted no second link (which would void the first).
	var broken int
	for _, l := range links {
		token := l[strings.LastIndex(l, "/register/")+len("/register/"):]
		if _, _, err := svc.Accounts.CheckLink(ctx, token, accounts.PurposeRegister); err != nil {
			broken++
		}
	}
	if broken != 0 || len(links) != staffMessages {
		t.Errorf("%d registration links mailed, %d of them void; want %d, all working", len(links), broken, staffMessages)
	}

	// The reply acknowledged before the crash is there, whole, and decrypts.
	th, err := svc.Messages.Thread(ctx, messaging.Viewer{UserID: doc.ID, IP: "192.0.2.2"}, docThread)
	if err != nil {
		t.Fatal(err)
	}
	last := th.Messages[len(th.Messages)-1]
	if len(th.Messages) != 2 || last.Body != "Scan attached." || len(last.Attachments) != 1 {
		t.Fatalf("thread after the restart: %d messages, last %q with %d attachments", len(th.Messages), last.Body, len(last.Attachments))
	}
	_, rc, err := svc.Messages.OpenAttachment(ctx, messaging.Viewer{UserID: staff.ID, Staff: true, IP: "192.0.2.1"}, last.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(back, scan) {
		t.Fatalf("the attachment read back: %d bytes (err %v), want the %d bytes sent", len(back), err, len(scan))
	}
	t.Logf("reply with a %d KiB attachment acknowledged (303) before the kill: present after the restart and decrypts to the bytes sent; "+
		"%d registration links mailed, %d of them void", len(scan)>>10, len(links), broken)
	second.stop()
	t.Logf("whole test %.1f s (building the portal, preparing the data, two starts)", time.Since(start).Seconds())
}

// signIn signs email in at the portal and returns a client holding the
// session (redirects are not followed: each answer is checked as given).
func signIn(t *testing.T, addr, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm("http://"+addr+"/login", url.Values{"email": {email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in of %s: %d, want 303", email, res.StatusCode)
	}
	return c
}

// reply posts a reply with one file, as the thread page's form does.
func reply(t *testing.T, c *http.Client, addr, threadID, body, name string, data []byte) int {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("body", body)
	fw, err := mw.CreateFormFile("attachments", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	res, err := c.Post("http://"+addr+"/threads/"+threadID+"/reply", mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// headerOf is one header of a raw message.
func headerOf(raw []byte, name string) string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, line := range strings.Split(string(head), "\r\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
