package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// A provider and a representative work through HAProxy in front of two
// instances (issue 17): the balancer sends one request here and the next
// there, so signing in, the CSRF check, a reply with a file and its
// download each cross instances, and nothing notices.
func TestJourneyThroughTwoInstancesBehindHAProxy(t *testing.T) {
	if noBrowser != "" {
		t.Skip(noBrowser)
	}
	t.Parallel()
	const name = "two instances behind HAProxy"
	s := newSiteOf(t, nil, 2)
	j := &journey{t: t, name: name, site: s, tab: newTab(t, s.URL, name)}
	j.tab.site = s
	start := time.Now()
	staffEmail, email := "lena.ortiz@healthnet.example", "office@eastsideortho.example"
	rep, _ := s.createStaff(staffEmail, "Lena Ortiz", teamLA)
	s.createProvider(email, "Eastside Orthopedics", goodPassword)
	dir := t.TempDir()
	referral := newTestFile(t, dir, "referral.pdf", 50<<10)
	xray := newTestFile(t, dir, "xray report.pdf", 300<<10)
	const subject = "Referral through the balancer"
	files := uploads{referral}
	if _, err := s.App.Messages.StartToProvider(context.Background(), messaging.Viewer{UserID: rep.ID, Staff: true, IP: "127.0.0.1"},
		email, subject, "Please see the attached referral.", 0, &files); err != nil {
		t.Fatal(err)
	}

	p := newTab(t, s.URL, name+" provider")
	p.signIn(email, "Eastside Orthopedics", testid("inbox-page"))
	p.click(link(subject))
	p.waitFor(testid("thread-page"))
	p.typeInto("body", "Thanks. The X-ray report is attached.")
	p.chooseFiles("attachments", xray.path)
	p.click(button("Send reply"))
	p.expectSent("/threads/")

	j.signIn(staffEmail, "Lena Ortiz", testid("inbox-page"))
	j.click(link(subject))
	j.waitFor(testid("thread-page"))
	if got := j.texts(`[data-testid="message-body"]`); len(got) != 2 || got[1] != "Thanks. The X-ray report is attached." {
		t.Errorf("staff thread bodies = %q, want the provider's reply last", got)
	}
	downloads := j.allowDownloads()
	if got := j.download(downloads, xray.name, len(xray.data)); !bytes.Equal(got, xray.data) {
		t.Errorf("downloaded %s differs from what the provider sent", xray.name)
	}
	a, b := s.served[0].Load(), s.served[1].Load()
	if a == 0 || b == 0 {
		t.Errorf("the balancer used one instance only: %d and %d requests", a, b)
	}
	t.Logf("journey %s took %s; instance 1 answered %d requests, instance 2 %d", name, time.Since(start).Round(time.Millisecond), a, b)
}
