package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The retention job shreds exactly what expired (a message past its own
// expiry, a thread past the retention period) and nothing else; pages then
// say so instead of failing.
func TestRetentionShredsWhatExpiredAndNothingElse(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_RETENTION": "720h"})
	ctx := context.Background()
	// The periodic retention run starts with the portal; let it finish
	// first, or under load it runs in the middle of this test and takes
	// the work the explicit run below is checked on.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var done int
		s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'purge_expired' AND state = 'completed'`).Scan(&done)
		if done > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the retention run at start never completed")
		}
	}
	s.staffIn("rep@plan.example", "Rep", "LA")
	s.provider("dr@clinic.example")
	staff := s.signedIn("rep@plan.example")
	send := func(subject string, extra url.Values, files ...file) string {
		f := url.Values{"to": {"dr@clinic.example"}, "subject": {subject}, "body": {"Body of " + subject}}
		for k, v := range extra {
			f[k] = v
		}
		p := staff.postMessage("/staff/compose", f, files...)
		if p.Status != http.StatusSeeOther {
			t.Fatalf("send %s: %d", subject, p.Status)
		}
		return threadID(t, p.Location)
	}
	shortLived := send("Short-lived", url.Values{"expires_in": {"7"}}, file{"a.txt", []byte("attachment")})
	old := send("Old thread", nil)
	keep := send("Current thread", nil)
	p := staff.postMessage("/staff/compose", url.Values{"to": {"dr@clinic.example"}, "subject": {"x"}, "body": {"y"}, "expires_in": {"5"}})
	must(t, "only listed expiry periods", p.Status == http.StatusUnprocessableEntity)

	// Notes go with their thread; a note on a kept thread stays.
	staff.post("/staff/threads/"+old+"/notes", url.Values{"note": {"Old note"}})
	staff.post("/staff/threads/"+keep+"/notes", url.Values{"note": {"Kept note"}})

	// Eight days on for the short-lived message; the old thread's last
	// activity 31 days ago.
	s.app.Pool.Exec(ctx, `UPDATE messages SET expires_at = now() - interval '1 day' WHERE thread_id = $1`, shortLived)
	s.app.Pool.Exec(ctx, `UPDATE threads SET last_message_at = now() - interval '31 days' WHERE id = $1`, old)
	var keysBefore int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM data_keys`).Scan(&keysBefore)

	r, err := s.app.MessageStore.PurgeExpired(ctx, 720*time.Hour, time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	// Keys: the short-lived message's body, file name and data; the old
	// thread's subject, message and note. River starts the periodic run
	// again whenever this instance is elected leader again (under load its
	// lease can lapse), and such a run may take part of this work: the
	// audit log, summed over every run, must say exactly this.
	must(t, "report: "+r.String(), r.Messages <= 1 && r.Threads <= 1 && r.Keys <= 3+3)
	var keysAfter, notes int
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM data_keys`).Scan(&keysAfter)
	must(t, "exactly the expired keys destroyed", keysBefore-keysAfter == 6)
	s.app.Pool.QueryRow(ctx, `SELECT count(*) FROM thread_notes`).Scan(&notes)
	must(t, "the old thread's note is gone, the kept one stays", notes == 1)
	contains(t, "kept thread", staff.get("/staff/threads/"+keep).Body, "Kept note")

	prov := s.signedIn("dr@clinic.example")
	p = prov.get("/threads/" + shortLived)
	contains(t, "expired message", p.Body, "This message expired on", "Short-lived")
	p = prov.get("/threads/" + old)
	contains(t, "expired thread", p.Body, "Expired conversation", "Ask your representative to resend", `href="/compose"`)
	p = prov.get("/threads/" + keep)
	contains(t, "untouched thread", p.Body, "Body of Current thread")
	p = prov.get("/inbox")
	contains(t, "inbox", p.Body, "(expired)", "Current thread", "Short-lived")
	must(t, "nothing else expired", strings.Count(p.Body, "(expired)") == 1)

	var audited [3]int
	s.app.Pool.QueryRow(ctx, `SELECT coalesce(sum((detail->>'messages')::int), 0), coalesce(sum((detail->>'threads')::int), 0),
		coalesce(sum((detail->>'keys_destroyed')::int), 0) FROM audit_events WHERE action = 'retention.purged'`).Scan(&audited[0], &audited[1], &audited[2])
	must(t, fmt.Sprintf("retention audited once: %v", audited), audited == [3]int{1, 1, 6})
	again, _ := s.app.MessageStore.PurgeExpired(ctx, 720*time.Hour, time.Now(), 100)
	must(t, "a second run finds nothing", again.Messages == 0 && again.Threads == 0)
}
