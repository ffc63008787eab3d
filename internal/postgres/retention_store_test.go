package postgres_test

import (
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
