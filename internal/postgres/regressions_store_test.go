package postgres_test

import (
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Links minted at the same moment (two mail jobs for one user) still leave
// exactly one usable: each voids the one committed before it.
func TestLinksMintedAtOnceLeaveOnlyTheNewestUsable(t *testing.T) {
	f := newStoreFixture(t)
	for round := range 5 {
		u := f.user(accounts.RoleProvider, accounts.StatusActive)
		var wg sync.WaitGroup
		sums := make([][]byte, 4)
		errs := make([]error, len(sums))
		for i := range sums {
			sum := sha256.Sum256(fmt.Appendf(nil, "round %d link %d", round, i))
			sums[i] = sum[:]
			wg.Go(func() {
				errs[i] = f.accounts.InsertToken(f.ctx, accounts.Token{UserID: u.ID, Purpose: accounts.PurposeReset, ExpiresAt: time.Now().Add(time.Hour)}, sums[i])
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		live := 0
		for _, s := range sums {
			if f.live(s, time.Now()) {
				live++
			}
		}
		if live != 1 {
			t.Fatalf("round %d: %d of 4 links minted at once still work, want 1", round, live)
		}
	}
}

// Someone moved from staff to another role is no longer offered to
// providers, nor accepted as a recipient: nobody would read the thread.
func TestFormerRepresentativeIsNoLongerARecipient(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	f.threadToProvider(rep, dr, "Claim 1")
	key := messaging.RecipientKey(messaging.RecipientStaff, rep.ID)
	if _, err := f.accounts.ChangeRole(f.ctx, rep.ID, accounts.RoleAdmin, audit.Event{Action: audit.RoleChanged}); err != nil {
		t.Fatal(err)
	}
	list, err := f.messages.Recipients(f.ctx, asProvider(dr))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list {
		if r.Key == key {
			t.Errorf("a former representative (now admin) is still offered: %+v", r)
		}
	}
	_, err = f.messages.StartThreadFromProvider(f.ctx, asProvider(dr), key, "Question", messaging.NewMessage{Body: "hello"})
	wantStoreErr(t, "writing to a former representative", err, messaging.ErrRecipientUnset)
}

// A message with a later expiry of its own, in a thread retention expires
// now, shows the day it was destroyed, not a date still to come.
func TestRetentionNeverDatesAnExpiryInTheFuture(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	now := time.Now()
	const retention = 30 * 24 * time.Hour
	thread, err := f.messages.StartThreadToProvider(f.ctx, asStaff(rep), dr.Email, "old",
		messaging.NewMessage{Body: "kept 90 days", ExpiresAt: now.Add(90 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	f.setActivity(thread, now.Add(-retention-time.Hour))
	if _, err := f.messages.PurgeExpired(f.ctx, retention, now, 10); err != nil {
		t.Fatal(err)
	}
	got := f.read(asProvider(dr), thread).Messages[0].ExpiredAt
	if got.IsZero() || got.After(now.Add(time.Second)) {
		t.Errorf("expired on %v, want no later than the run at %v", got, now)
	}
}
