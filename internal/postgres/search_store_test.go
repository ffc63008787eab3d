package postgres_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// search runs a search as v and returns the ids found, newest first.
func (f *storeFixture) search(store *postgres.MessagingStore, v messaging.Viewer, text string, p messaging.Page) ([]string, messaging.SearchResult) {
	f.t.Helper()
	q, err := messaging.ParseQuery(text, false)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.searchQuery(store, v, q, p)
}

func (f *storeFixture) searchQuery(store *postgres.MessagingStore, v messaging.Viewer, q messaging.Query, p messaging.Page) ([]string, messaging.SearchResult) {
	f.t.Helper()
	res, err := store.Search(f.ctx, v, p, q)
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []string
	for _, t := range res.Threads {
		ids = append(ids, t.ID)
	}
	return ids, res
}

// Every viewer finds, among threads that match, exactly those they may
// see: a representative their own and their teams', a provider their own,
// an admin without a grant nothing.
func TestSearchFindsOnlyWithinTheViewersScope(t *testing.T) {
	w := newScopeWorld(t)
	for _, indexed := range []bool{false, true} {
		if indexed {
			w.index()
		}
		w.searchEveryViewer(t)
	}
}

func (w *scopeWorld) searchEveryViewer(t *testing.T) {
	for _, c := range w.visibility() {
		// "body of" is in every thread's first message.
		got, _ := w.search(w.messages, c.viewer, "BODY of", messaging.Page{})
		if !sameSet(got, c.threads) {
			t.Errorf("%s: search for a word in every thread found %v, want %v", c.name, got, c.threads)
		}
		// A file name of the team's thread only.
		got, _ = w.search(w.messages, c.viewer, "referral", messaging.Page{})
		want := []string(nil)
		if slices.Contains(c.threads, w.toTeam) {
			want = []string{w.toTeam}
		}
		if !sameSet(got, want) {
			t.Errorf("%s: search for the team thread's file name found %v, want %v", c.name, got, want)
		}
	}
}

func TestSearchLooksInEveryFieldAndNeedsEveryWord(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	f.exec(`UPDATE users SET display_name = 'Dr. Inés Muñoz' WHERE id = $1`, prov.ID)
	claim := f.threadToProvider(rep, prov, "Claim 4471 review", "eob-march.pdf")
	f.reply(asProvider(prov), claim, "The member's Sertraline dose changed in February.")
	other := f.threadToProvider(rep, prov, "Referral")
	// Before and after the index: it may only make the search faster.
	f.searchEveryField(rep, prov, claim, other)
	f.index()
	f.searchEveryField(rep, prov, claim, other)
}

func (f *storeFixture) searchEveryField(rep, prov accounts.User, claim, other string) {
	t := f.t
	t.Helper()
	staff := asStaff(rep)
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"4471", []string{claim}},                       // a word of the subject
		{"447", []string{claim}},                        // the start of a word
		{"471", nil},                                    // not the start of a word
		{"claim REVIEW", []string{claim}},               // case does not matter
		{"sertraline", []string{claim}},                 // in a reply's text
		{"eob-mar", []string{claim}},                    // part of a file name
		{"munoz", []string{claim, other}},               // the provider's name, without the accent
		{"muñoz", []string{claim, other}},               // and with it
		{prov.Email, []string{claim, other}},            // the provider's address
		{"claim sertraline", []string{claim}},           // words from different fields, both there
		{"claim insulin", nil},                          // one word missing: no match
		{"referral body", []string{other}},              // subject and first message
		{"nothing-like-this-anywhere", nil},             // no match at all
		{"  sertraline   sertraline ", []string{claim}}, // repeated words count once
	} {
		got, _ := f.search(f.messages, staff, c.query, messaging.Page{})
		if !sameSet(got, c.want) {
			t.Errorf("search %q found %v, want %v", c.query, got, c.want)
		}
	}
	if got, _ := f.search(f.messages, staff, "munoz", messaging.Page{HasAttachment: true}); !sameSet(got, []string{claim}) {
		t.Errorf("search for threads with a file found %v, want the claim thread only", got)
	}
	// Subjects and names only: a word of the messages is not looked for.
	q, _ := messaging.ParseQuery("sertraline", true)
	if got, _ := f.searchQuery(f.messages, staff, q, messaging.Page{}); len(got) != 0 {
		t.Errorf("titles-only search for a message word found %v, want nothing", got)
	}
	q, _ = messaging.ParseQuery("4471", true)
	if got, _ := f.searchQuery(f.messages, staff, q, messaging.Page{}); !sameSet(got, []string{claim}) {
		t.Errorf("titles-only search for a subject word found %v, want the claim thread", got)
	}
}

// What was withdrawn cannot be found: its key is gone, so is its text.
func TestSearchDoesNotFindWithdrawnText(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	id := f.threadToProvider(rep, prov, "Results")
	f.reply(asStaff(rep), id, "Wrong patient: hemoglobin A1c 9.1")
	msgs := f.messageIDs(id)
	if got, _ := f.search(f.messages, asStaff(rep), "hemoglobin", messaging.Page{}); len(got) != 1 {
		t.Fatalf("before the recall, search found %v, want the thread", got)
	}
	if _, err := f.messages.Recall(f.ctx, asStaff(rep), msgs[len(msgs)-1]); err != nil {
		t.Fatal(err)
	}
	for _, v := range []messaging.Viewer{asStaff(rep), asProvider(prov)} {
		if got, _ := f.search(f.messages, v, "hemoglobin", messaging.Page{}); len(got) != 0 {
			t.Errorf("after the recall, search as %d found %v, want nothing", v.UserID, got)
		}
	}
}

// Pages of results are newest first, without gaps or repeats, and the
// narrowing filters apply to the search.
func TestSearchPagesAndFilters(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var want []string // newest first
	for i := range 30 {
		id := f.threadToProvider(rep, prov, "Prior authorization")
		f.setActivity(id, start.AddDate(0, 0, i))
		want = append([]string{id}, want...)
		f.threadToProvider(rep, prov, "Unrelated") // between the matches
	}
	staff := asStaff(rep)
	first, res := f.search(f.messages, staff, "authorization", messaging.Page{Limit: 25})
	if !slices.Equal(first, want[:25]) || res.Next == "" || res.Partial {
		t.Fatalf("first page: %d threads, next %q, partial %v; want the newest 25 and a next page", len(first), res.Next, res.Partial)
	}
	second, res := f.search(f.messages, staff, "authorization", messaging.Page{Limit: 25, Before: res.Next})
	if !slices.Equal(second, want[25:]) || res.Next != "" {
		t.Fatalf("second page: %v, next %q; want the oldest 5 and no next page", second, res.Next)
	}
	// Last activity from 10 to 14 January: threads 9..13 (day i+1).
	got, _ := f.search(f.messages, staff, "authorization", messaging.Page{
		Since: time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)})
	if !slices.Equal(got, want[16:21]) {
		t.Errorf("search within dates found %d threads, want the 5 active 10-14 January", len(got))
	}
	if got, _ := f.search(f.messages, staff, "authorization", messaging.Page{HasAttachment: true}); len(got) != 0 {
		t.Errorf("search for threads with a file found %d, want none (none has a file)", len(got))
	}
}

// A search that runs out of time says how far back it looked and goes on
// from there; nothing is skipped or found twice.
func TestSearchStopsAtItsTimeLimitAndContinues(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	oldest := f.threadToProvider(rep, prov, "Needle in the archive")
	f.setActivity(oldest, time.Now().Add(-365*24*time.Hour))
	for range 120 {
		f.threadToProvider(rep, prov, "Hay")
	}
	hurried := f.withLimits(postgres.MessagingLimits{MaxFileBytes: 1 << 20, MaxFiles: 3, SearchTime: time.Nanosecond})
	got, res := f.search(hurried, asStaff(rep), "needle", messaging.Page{})
	if len(got) != 0 || !res.Partial || res.Next == "" || res.Searched != 100 || res.SearchedBackTo.IsZero() {
		t.Fatalf("hurried search: found %v, partial %v, next %q, searched %d; want a partial answer after the first 100 threads", got, res.Partial, res.Next, res.Searched)
	}
	got, res = f.search(hurried, asStaff(rep), "needle", messaging.Page{Before: res.Next})
	if !slices.Equal(got, []string{oldest}) || res.Partial || res.Next != "" || res.Searched != 21 {
		t.Fatalf("continued search: found %v, partial %v, searched %d; want the oldest thread among the remaining 21", got, res.Partial, res.Searched)
	}
	// With the default limit, one request finds it.
	if got, _ := f.search(f.messages, asStaff(rep), "needle", messaging.Page{}); !slices.Equal(got, []string{oldest}) {
		t.Errorf("search with the default time limit found %v", got)
	}
}

func TestParseQueryLimits(t *testing.T) {
	if _, err := messaging.ParseQuery(strings.Repeat("a", messaging.MaxQueryLen+1), false); err == nil {
		t.Error("a query over the length limit was accepted")
	}
	if _, err := messaging.ParseQuery("a b c d e f g h i", false); err == nil {
		t.Error("a query of 9 words was accepted")
	}
	q, err := messaging.ParseQuery("  ", false)
	if err != nil || !q.Empty() {
		t.Errorf("blank query: %v, empty %v; want an empty query", err, q.Empty())
	}
}
