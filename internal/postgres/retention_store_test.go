package postgres_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Retention destroys the keys of what expired and nothing else: a message
// past its own expiry, and every message and the subject of a thread idle
// longer than the retention period. The rows stay, shown as expired (not
// withdrawn), the expired thread can no longer be answered, and a second
// run finds nothing left to do.
func TestPurgeExpiredDestroysOnlyWhatExpired(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	now := time.Now()
	const retention = 30 * 24 * time.Hour

	mixed, err := f.messages.StartThreadToProvider(f.ctx, asStaff(s), p.Email, "mixed",
		messaging.NewMessage{Body: "expires", ExpiresAt: now.Add(-time.Minute), Files: storeUploads("labs.pdf")})
	if err != nil {
		t.Fatal(err)
	}
	f.reply(asProvider(p), mixed, "stays")
	if err := f.messages.Reply(f.ctx, asStaff(s), mixed, messaging.NewMessage{Body: "later", ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	idle := f.threadToProvider(s, p, "idle", "old.pdf")
	f.setActivity(idle, now.Add(-retention-time.Hour))
	recent := f.threadToProvider(s, p, "recent")
	f.setActivity(recent, now.Add(-retention+time.Hour))

	// No thread retention: only the expired message goes.
	r, err := f.messages.PurgeExpired(f.ctx, 0, now, 1)
	if err != nil || r != (messaging.PurgeReport{Messages: 1, Keys: 3}) {
		t.Fatalf("purge without retention: %+v, %v; want 1 message, 3 keys", r, err)
	}
	r, err = f.messages.PurgeExpired(f.ctx, retention, now, 1)
	if err != nil || r != (messaging.PurgeReport{Threads: 1, Keys: 4}) {
		t.Fatalf("purge with retention: %+v, %v; want 1 thread, 4 keys (subject, body, file name and bytes)", r, err)
	}
	if r, err := f.messages.PurgeExpired(f.ctx, retention, now, 1); err != nil || r != (messaging.PurgeReport{}) {
		t.Errorf("second run: %+v, %v; want nothing", r, err)
	}

	th := f.read(asProvider(p), mixed)
	if m := th.Messages; len(m) != 3 || m[0].ExpiredAt.IsZero() || m[0].Withdrawn || m[0].Body != "" || m[0].Attachments != nil ||
		m[1].Body != "stays" || m[2].Body != "later" || th.Subject != "mixed" {
		t.Errorf("thread with one expired message: %+v", th)
	}
	_, _, err = f.messages.OpenAttachment(f.ctx, asProvider(p), f.attachmentIDs(mixed)[0])
	wantStoreErr(t, "attachment of an expired message", err, messaging.ErrWithdrawn)

	th = f.read(asStaff(s), idle)
	if th.ExpiredAt.IsZero() || th.Withdrawn || th.Subject != "" || th.Messages[0].ExpiredAt.IsZero() || th.Messages[0].Body != "" {
		t.Errorf("idle thread after retention: %+v", th)
	}
	wantStoreErr(t, "reply to an expired thread", f.messages.Reply(f.ctx, asProvider(p), idle, messaging.NewMessage{Body: "hello?"}), messaging.ErrWithdrawn)
	if sum := f.inbox(asProvider(p), messaging.FilterAll)[idle]; !sum.Expired || sum.Withdrawn || sum.Subject != "" {
		t.Errorf("idle thread in the inbox: %+v", sum)
	}
	if th := f.read(asStaff(s), recent); !th.ExpiredAt.IsZero() || th.Subject != "recent" || th.Messages[0].Body == "" {
		t.Errorf("recent thread was touched: %+v", th)
	}
}

// A recalled message is not purged again (its keys are already gone) and
// does not count as expired.
func TestPurgeSkipsRecalledMessages(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	id, err := f.messages.StartThreadToProvider(f.ctx, asStaff(s), p.Email, "oops",
		messaging.NewMessage{Body: "recalled", ExpiresAt: time.Now().Add(-time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.messages.Recall(f.ctx, asStaff(s), f.messageIDs(id)[0]); err != nil {
		t.Fatal(err)
	}
	if r, err := f.messages.PurgeExpired(f.ctx, 0, time.Now(), 10); err != nil || r != (messaging.PurgeReport{}) {
		t.Errorf("purge after recall: %+v, %v; want nothing", r, err)
	}
	if m := f.read(asProvider(p), id).Messages[0]; !m.Withdrawn || !m.ExpiredAt.IsZero() {
		t.Errorf("a recalled message shows as %+v; want withdrawn, not expired", m)
	}
}

// Several instances may run retention at once (each batch takes its rows
// with SKIP LOCKED). Each expired message and thread is purged, counted and
// audited by exactly one of them, and each key counted once: a run that
// read a message as expired while another was shredding it must not take
// it again once that run commits, and a thread's run that reaches a message
// another run shredded does not count its key again.
func TestConcurrentPurgesCountEachRecordOnce(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	const expired, runs, retention = 60, 6, 30 * 24 * time.Hour
	var threads []string
	for i := range expired {
		id, err := f.messages.StartThreadToProvider(f.ctx, asStaff(s), p.Email, fmt.Sprint("expired ", i),
			messaging.NewMessage{Body: "gone", ExpiresAt: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		threads = append(threads, id)
	}
	purgeAtOnce := func(retention time.Duration) messaging.PurgeReport {
		reports := make(chan messaging.PurgeReport, runs)
		var wg sync.WaitGroup
		for range runs {
			wg.Go(func() {
				r, err := f.messages.PurgeExpired(f.ctx, retention, time.Now(), 1)
				if err != nil {
					t.Error(err)
				}
				reports <- r
			})
		}
		wg.Wait()
		close(reports)
		var total messaging.PurgeReport
		for r := range reports {
			total.Messages += r.Messages
			total.Threads += r.Threads
			total.Keys += r.Keys
		}
		return total
	}
	audited := func(field string) int {
		return f.count(`SELECT coalesce(sum((detail->>$1)::int), 0) FROM audit_events WHERE action = 'retention.purged'`, field)
	}

	// Each thread's only message expired: message runs only.
	if total := purgeAtOnce(0); total != (messaging.PurgeReport{Messages: expired, Keys: expired}) {
		t.Errorf("%d runs at once reported %+v in all; want %d messages and keys, each counted once", runs, total, expired)
	}
	if n := audited("messages"); n != expired {
		t.Errorf("the audit log says %d messages purged; want %d", n, expired)
	}

	// Now idle threads, each with a fresh expired message: a message may
	// go by its own expiry or with its thread, whichever run takes it
	// first, but its key counts once.
	for _, id := range threads {
		f.reply(asProvider(p), id, "also gone")
		f.setActivity(id, time.Now().Add(-retention-time.Hour))
	}
	f.exec(`UPDATE messages SET expires_at = now() - interval '1 minute' WHERE expires_at IS NULL`)
	total := purgeAtOnce(retention)
	if total.Threads != expired || total.Keys != 2*expired {
		t.Errorf("%d runs at once with retention reported %+v in all; want %d threads and %d keys (subject, new message)", runs, total, expired, 2*expired)
	}
	if n := audited("keys_destroyed"); n != 3*expired {
		t.Errorf("the audit log says %d keys destroyed; want %d", n, 3*expired)
	}
}
