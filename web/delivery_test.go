package web_test

import (
	"io"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// While the SMTP server refuses mail, the notification waits and retries
// with backoff; it goes out once the server is back. Metrics count both.
func TestNotificationRetriesWhileSMTPIsDown(t *testing.T) {
	// No second step: setting up an app sends a notice, and this test
	// counts mail.
	s := newSite(t, map[string]string{"PORTAL_MFA_STAFF": "optional"})
	s.staffIn("rep@plan.example", "Rep", "LA")
	staff := s.signedIn("rep@plan.example")
	s.mail.SetFailing(true)
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"S"}, "body": {"B"}})
	must(t, "message stored while mail is down", p.Status == 303)

	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(metrics(t, s), `portal_mail_total{result="failed"}`) {
		if time.Now().After(deadline) {
			t.Fatal("no failed send recorded")
		}
		time.Sleep(100 * time.Millisecond)
	}
	must(t, "nothing delivered while down", len(s.mail.Messages()) == 0)
	s.mail.SetFailing(false)
	s.mailTo("dr@clinic.example", "[SECURE]", "/register/") // waits up to 20 s: River's first retries come within seconds

	// The counter moves once the SMTP conversation ends, just after the
	// catcher has the message; River marks the job completed a moment later.
	const sent, completed = `portal_mail_total{result="sent"} 1`, `portal_jobs{kind="message_notification",state="completed"} 1`
	deadline = time.Now().Add(5 * time.Second)
	m := metrics(t, s)
	for !(strings.Contains(m, sent) && strings.Contains(m, completed)) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		m = metrics(t, s)
	}
	contains(t, "metrics", m, sent, completed, `portal_logins_total{result="ok"} 1`)
	contains(t, "logs", s.logs.String(), "mail send failed", "notification sent")
}

func metrics(t *testing.T, s *site) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.app.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}
