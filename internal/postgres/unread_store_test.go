package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/migrations"
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

// unreadWorld is a team of two representatives and a provider, with
// threads both ways, for the unread-count tests.
type unreadWorld struct {
	staff   []accounts.User
	people  []messaging.Viewer
	team    int64
	p       accounts.User
	threads []string
}

func (f *storeFixture) newUnreadWorld() *unreadWorld {
	s1, s2 := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	team := f.team("Claims", s1, s2)
	return &unreadWorld{staff: []accounts.User{s1, s2}, people: []messaging.Viewer{asStaff(s1), asStaff(s2), asProvider(p)}, team: team, p: p,
		threads: []string{f.threadToTeam(p, team, "from the provider"), f.threadToProvider(s1, p, "from s1")}}
}

// step does one random thing in w (a reply, an opening, marking some
// messages read, a recall, sometimes a new thread) and says what.
func (f *storeFixture) step(w *unreadWorld, rng *rand.Rand) string {
	f.t.Helper()
	th := w.threads[rng.IntN(len(w.threads))]
	v := w.people[rng.IntN(len(w.people))]
	what := "recall"
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
		if _, err := f.messages.MarkRead(f.ctx, v, th, ids[:rng.IntN(len(ids)+1)]); err != nil {
			f.t.Fatal(err)
		}
	default:
		sender := w.staff[rng.IntN(len(w.staff))]
		mine := f.column(`SELECT id::text FROM messages WHERE thread_id = $1 AND sender_id = $2 AND recalled_at IS NULL`, th, sender.ID)
		if len(mine) > 0 {
			if _, err := f.messages.Recall(f.ctx, asStaff(sender), mine[rng.IntN(len(mine))]); err != nil {
				f.t.Fatal(err)
			}
		}
	}
	if rng.IntN(8) == 0 {
		w.threads = append(w.threads, f.threadToTeam(w.p, w.team, "another"))
	}
	return what
}

// The staff inbox's unread counts are kept with every message, receipt and
// recall rather than counted from the messages; after any sequence of
// those they equal the count from the messages, for every member of the
// team, in the list and in the "Unread" filter.
func TestStaffUnreadCountsFollowMessagesReceiptsAndRecalls(t *testing.T) {
	f := newStoreFixture(t)
	w := f.newUnreadWorld()
	f.checkUnread("start", w.staff, w.threads)
	rng := rand.New(rand.NewPCG(12, 1))
	for i := range 80 {
		what := f.step(w, rng)
		f.checkUnread(fmt.Sprintf("%s at step %d", what, i), w.staff, w.threads)
	}
}

// A database that already holds messages and receipts when migration 0026
// arrives gets its counts from what is stored: the same as kept ones.
func TestUnreadCountsOfAnExistingArchive(t *testing.T) {
	f := newStoreFixture(t)
	w := f.newUnreadWorld()
	rng := rand.New(rand.NewPCG(7, 3))
	for range 60 {
		f.step(w, rng)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(f.pool), migrations.FS, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(f.ctx, 25); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(f.ctx, 26); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM thread_readers`); n == 0 {
		t.Fatal("the migration counted nothing")
	}
	f.checkUnread("after migrating an archive", w.staff, w.threads)
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
