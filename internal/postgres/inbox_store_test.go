package postgres_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Walking an inbox page by page with the keyset cursor yields every thread
// of the viewer exactly once, newest activity first and, for equal times,
// by id descending; every page but the last is full, and only the last has
// no next cursor. Threads of other people, interleaved in time, never show.
func TestInboxKeysetPagesInOrderWithoutGapsOrRepeats(t *testing.T) {
	db := newStoreFixture(t)
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	distinct := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	same := func(int) time.Time { return base }
	pairs := func(i int) time.Time { return base.Add(time.Duration(i/2) * time.Minute) }
	cases := []struct {
		name      string
		threads   int
		limit     int
		at        func(i int) time.Time
		wantPages int
	}{
		{"empty inbox: one empty page", 0, 3, distinct, 1},
		{"fewer than a page", 2, 3, distinct, 1},
		{"exactly one page: no next cursor, no empty second page", 3, 3, distinct, 1},
		{"one past a page", 4, 3, distinct, 2},
		{"exactly two pages: the last is full", 6, 3, distinct, 2},
		{"all at the same time: boundaries inside ties", 7, 3, same, 3},
		{"pairs at the same time: boundary splits a pair", 8, 3, pairs, 3},
		{"page of one", 3, 1, pairs, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := db.on(t)
			p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
			otherP, otherS := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
			type entry struct {
				id string
				at time.Time
			}
			var want []entry
			for i := range c.threads {
				id := f.threadToProvider(s, p, fmt.Sprint("thread ", i))
				f.setActivity(id, c.at(i))
				want = append(want, entry{id, c.at(i)})
				// Noise at the very same times, outside both viewers' scope.
				f.setActivity(f.threadToProvider(otherS, otherP, "noise"), c.at(i))
			}
			slices.SortFunc(want, func(a, b entry) int {
				return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.id, a.id))
			})
			var wantIDs []string
			for _, e := range want {
				wantIDs = append(wantIDs, e.id)
			}
			for _, v := range []messaging.Viewer{asProvider(p), asStaff(s)} {
				got, pages := walkInbox(t, f, v, c.limit, c.threads+2)
				if !slices.Equal(got, wantIDs) {
					t.Errorf("viewer %d: pages gave\n%v\nwant\n%v", v.UserID, got, wantIDs)
				}
				if pages != c.wantPages {
					t.Errorf("viewer %d: %d pages, want %d", v.UserID, pages, c.wantPages)
				}
			}
		})
	}
}

// walkInbox follows next cursors from the first page, checking that every
// page but the last is full and carries a cursor, and returns the ids in
// the order seen and the number of pages.
func walkInbox(t *testing.T, f *storeFixture, v messaging.Viewer, limit, maxPages int) (ids []string, pages int) {
	t.Helper()
	cursor := ""
	for {
		list, next, err := f.messages.Inbox(f.ctx, v, messaging.Page{Before: cursor, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(list) > limit {
			t.Fatalf("page %d has %d threads, limit %d", pages, len(list), limit)
		}
		for i, s := range list {
			if i > 0 && s.LastMessageAt.After(list[i-1].LastMessageAt) {
				t.Errorf("page %d: %s is newer than the thread before it", pages, s.ID)
			}
			ids = append(ids, s.ID)
		}
		if next == "" {
			return ids, pages
		}
		if len(list) != limit {
			t.Fatalf("page %d has a next cursor but only %d of %d threads", pages, len(list), limit)
		}
		if pages == maxPages {
			t.Fatalf("still a next cursor after %d pages", pages)
		}
		cursor = next
	}
}

// A malformed cursor (hand-edited URL) starts from the first page instead
// of failing or skipping threads.
func TestInboxMalformedCursorStartsFromTheTop(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	first := f.threadToProvider(s, p, "one")
	f.threadToProvider(s, p, "two")
	for _, cursor := range []string{"garbage", "12_not-a-uuid", "_" + first, "x_" + first} {
		list, _, err := f.messages.Inbox(f.ctx, asProvider(p), messaging.Page{Before: cursor, Limit: 10})
		if err != nil || len(list) != 2 {
			t.Errorf("cursor %q: %d threads, %v; want the whole inbox", cursor, len(list), err)
		}
	}
}

// "Unread" keeps threads with a message from someone else the viewer has
// not opened; "awaiting" keeps threads where the provider wrote last.
func TestInboxFiltersUnreadAndAwaitingReply(t *testing.T) {
	f := newStoreFixture(t)
	p, s := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	quiet := f.threadToProvider(s, p, "no answer yet")
	answered := f.threadToProvider(s, p, "answered")
	f.reply(asProvider(p), answered, "thanks")
	openedAnswer := f.threadToProvider(s, p, "answered and read")
	f.reply(asProvider(p), openedAnswer, "thanks")
	f.read(asStaff(s), openedAnswer)
	f.read(asProvider(p), answered)
	f.read(asProvider(p), openedAnswer)

	cases := []struct {
		viewer messaging.Viewer
		filter messaging.Filter
		want   []string
	}{
		{asStaff(s), messaging.FilterAll, []string{quiet, answered, openedAnswer}},
		{asStaff(s), messaging.FilterUnread, []string{answered}},
		{asStaff(s), messaging.FilterAwaiting, []string{answered, openedAnswer}},
		{asProvider(p), messaging.FilterUnread, []string{quiet}},
	}
	for _, c := range cases {
		got := f.inbox(c.viewer, c.filter)
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		if !sameSet(ids, c.want) {
			t.Errorf("viewer %d, filter %q: %v, want %v", c.viewer.UserID, c.filter, ids, c.want)
		}
	}
	if n := f.inbox(asStaff(s), messaging.FilterAll)[answered].Unread; n != 1 {
		t.Errorf("answered thread shows %d unread for staff, want 1", n)
	}
}

func sameSet(a, b []string) bool {
	return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
}

// A representative's pages merge their own threads and each of their
// teams' (read per source, newest first, issue 12) into one order without
// gaps or repeats, across ties and page boundaries, with and without the
// awaiting-reply filter; another team's threads stay out.
func TestStaffInboxMergesOwnAndTeamThreadsPageByPage(t *testing.T) {
	f := newStoreFixture(t).on(t)
	s, colleague, outsider := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	teamA, teamB := f.team("A", s, colleague), f.team("B", s)
	teamC := f.team("C", outsider)
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	type entry struct {
		id       string
		at       time.Time
		awaiting bool
	}
	var want []entry
	for i := range 24 {
		at := base.Add(time.Duration(i/3) * time.Minute) // ties of three, across sources
		var id string
		switch i % 4 {
		case 0:
			id = f.threadToProvider(s, p, fmt.Sprint("own ", i))
		case 1:
			id = f.threadToTeam(p, teamA, fmt.Sprint("team A ", i))
		case 2:
			id = f.threadToTeam(p, teamB, fmt.Sprint("team B ", i))
		case 3:
			id = f.threadToProvider(outsider, p, fmt.Sprint("outsider's own ", i)) // team C's, not s's
			f.setActivity(id, at)
			f.setActivity(f.threadToTeam(p, teamC, "other team"), at)
			continue
		}
		f.setActivity(id, at)
		want = append(want, entry{id, at, i%4 != 0}) // the provider wrote last in team threads
	}
	slices.SortFunc(want, func(a, b entry) int { return cmp.Or(b.at.Compare(a.at), cmp.Compare(b.id, a.id)) })
	var all, awaiting []string
	for _, e := range want {
		all = append(all, e.id)
		if e.awaiting {
			awaiting = append(awaiting, e.id)
		}
	}
	if got, _ := walkInbox(t, f, asStaff(s), 4, 10); !slices.Equal(got, all) {
		t.Errorf("pages gave\n%v\nwant\n%v", got, all)
	}
	var got []string
	cursor := ""
	for range 10 {
		list, next, err := f.messages.Inbox(f.ctx, asStaff(s), messaging.Page{Before: cursor, Limit: 3, Filter: messaging.FilterAwaiting})
		if err != nil {
			t.Fatal(err)
		}
		for _, th := range list {
			got = append(got, th.ID)
		}
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(got, awaiting) {
		t.Errorf("awaiting-reply pages gave\n%v\nwant\n%v", got, awaiting)
	}
}
