package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// unreadByDefinition counts thread's messages staff member u has not
// opened by looking at them: not u's, not withdrawn, no receipt of u's.
// The staff inbox reads kept counts instead (thread_readers); this is what
// they must always equal.
func (f *storeFixture) unreadByDefinition(u accounts.User, thread string) int {
	return f.count(`SELECT count(*) FROM messages m WHERE m.thread_id = $2 AND m.sender_id <> $1 AND m.recalled_at IS NULL
		AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = $1)`, u.ID, thread)
}

// checkUnread compares each staff member's inbox (counts and the "Unread"
// filter) with the definition, for every thread.
func (f *storeFixture) checkUnread(step string, staff []accounts.User, threads []string) {
	f.t.Helper()
	for _, u := range staff {
		all, unread := f.inbox(asStaff(u), messaging.FilterAll), f.inbox(asStaff(u), messaging.FilterUnread)
		for _, id := range threads {
			want := f.unreadByDefinition(u, id)
			if got := all[id].Unread; got != want {
				f.t.Fatalf("%s: staff %d, thread %s shows %d unread; the messages say %d", step, u.ID, id, got, want)
			}
			if _, listed := unread[id]; listed != (want > 0) {
				f.t.Fatalf("%s: staff %d, thread %s under Unread: %v with %d unread", step, u.ID, id, listed, want)
			}
		}
	}
}

// The staff inbox's unread counts are kept with every message, receipt and
// recall rather than counted from the messages; after any sequence of
// those they equal the count from the messages, for every member of the
// team, in the list and in the "Unread" filter.
func TestStaffUnreadCountsFollowMessagesReceiptsAndRecalls(t *testing.T) {
	f := newStoreFixture(t)
	s1, s2 := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	team := f.team("Claims", s1, s2)
	staff := []accounts.User{s1, s2}
	threads := []string{f.threadToTeam(p, team, "from the provider"), f.threadToProvider(s1, p, "from s1")}
	f.checkUnread("start", staff, threads)

	rng := rand.New(rand.NewPCG(12, 1))
	people := []messaging.Viewer{asStaff(s1), asStaff(s2), asProvider(p)}
	for step := range 80 {
		th := threads[rng.IntN(len(threads))]
		v := people[rng.IntN(len(people))]
		var what string
		switch op := rng.IntN(10); {
		case op < 4:
			what = "reply"
			f.reply(v, th, "a reply")
		case op < 6:
			what = "open"
			f.read(v, th)
		case op < 8:
			what = "mark some read"
			ids := f.messageIDs(th)
			ids = ids[:rng.IntN(len(ids)+1)]
			if _, err := f.messages.MarkRead(f.ctx, v, th, ids); err != nil {
				t.Fatal(err)
			}
		default:
			what = "recall"
			sender := staff[rng.IntN(len(staff))]
			mine := f.column(`SELECT id::text FROM messages WHERE thread_id = $1 AND sender_id = $2 AND recalled_at IS NULL`, th, sender.ID)
			if len(mine) == 0 {
				continue
			}
			if _, err := f.messages.Recall(f.ctx, asStaff(sender), mine[rng.IntN(len(mine))]); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(8) == 0 {
			threads = append(threads, f.threadToTeam(p, team, "another"))
		}
		f.checkUnread(fmt.Sprintf("%s at step %d", what, step), staff, threads)
	}
}

// A receipt written while its message is being recalled is counted only if
// the message is still there when it is counted: the counts stay exact
// whichever of the two commits first.
func TestStaffUnreadCountsStayExactWhenReadingRacesARecall(t *testing.T) {
	f := newStoreFixture(t)
	s1, s2 := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	team := f.team("Claims", s1, s2)
	var threads []string
	for range 20 {
		th := f.threadToTeam(p, team, "race")
		f.reply(asStaff(s1), th, "to be recalled")
		f.reply(asProvider(p), th, "stays")
		threads = append(threads, th)
	}
	for _, th := range threads {
		recall := f.column(`SELECT id::text FROM messages WHERE thread_id = $1 AND sender_id = $2`, th, s1.ID)[0]
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := f.messages.MarkRead(f.ctx, asStaff(s2), th, f.messageIDs(th)); err != nil {
				t.Error(err)
			}
		})
		wg.Go(func() {
			if _, err := f.messages.Recall(f.ctx, asStaff(s1), recall); err != nil {
				t.Error(err)
			}
		})
		wg.Wait()
	}
	f.checkUnread("after the races", []accounts.User{s1, s2}, threads)
	if slices.ContainsFunc(threads, func(th string) bool { return f.unreadByDefinition(s2, th) != 0 }) {
		t.Error("s2 read every thread whole, yet one has an unread message")
	}
}
