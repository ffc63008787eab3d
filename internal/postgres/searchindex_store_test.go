package postgres_test

import (
	"slices"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// index runs the indexing job's work until nothing is left.
func (f *storeFixture) index() {
	f.t.Helper()
	for {
		n, err := f.messages.IndexPending(f.ctx, 7) // small batches: several rounds
		if err != nil {
			f.t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// pending counts the rows still without tokens.
func (f *storeFixture) pending() int {
	f.t.Helper()
	return f.count(`SELECT (SELECT count(*) FROM threads WHERE search_tokens IS NULL)
		+ (SELECT count(*) FROM messages WHERE search_tokens IS NULL)
		+ (SELECT count(*) FROM users WHERE search_tokens IS NULL)`)
}

// Once indexed, a search decrypts only the threads whose tokens match,
// not every thread in scope; what is not indexed yet is still found.
func TestSearchIndexNarrowsWhatIsDecrypted(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	// The needle is the oldest: the newest 100 threads are always read
	// whole (a common word finds its page there), the rest through the
	// index.
	needle := f.threadToProvider(rep, prov, "Discharge summary")
	f.setActivity(needle, time.Now().Add(-time.Hour))
	for range 140 {
		f.threadToProvider(rep, prov, "Eligibility check")
	}
	staff := asStaff(rep)
	got, res := f.search(f.messages, staff, "discharge", messaging.Page{})
	if !slices.Equal(got, []string{needle}) || res.Searched != 141 {
		t.Fatalf("before indexing: found %v after %d threads, want the one thread after all 141", got, res.Searched)
	}
	f.index()
	if n := f.pending(); n != 0 {
		t.Fatalf("%d rows still without tokens after indexing", n)
	}
	got, res = f.search(f.messages, staff, "discharge", messaging.Page{})
	if !slices.Equal(got, []string{needle}) || res.Searched != 101 {
		t.Errorf("indexed: found %v after %d threads, want the one thread after the newest 100 and itself", got, res.Searched)
	}
	// Short words narrow nothing; with a long one, it alone narrows.
	if _, res = f.search(f.messages, staff, "zq", messaging.Page{}); res.Searched != 141 {
		t.Errorf("a two-letter word searched %d threads, want every one (141)", res.Searched)
	}
	if got, res = f.search(f.messages, staff, "summary zq", messaging.Page{}); len(got) != 0 || res.Searched != 101 {
		t.Errorf(`"summary zq" found %v after %d threads, want nothing after 101`, got, res.Searched)
	}
	// A message that arrives after the run is found before the next one.
	fresh := f.threadToProvider(rep, prov, "Eligibility check")
	f.reply(asProvider(prov), fresh, "Please find the discharge papers attached.")
	got, _ = f.search(f.messages, staff, "discharge", messaging.Page{})
	if !sameSet(got, []string{needle, fresh}) {
		t.Errorf("with an unindexed reply: found %v, want the summary and the fresh thread", got)
	}
}

// Recall and retention shred keys; the tokens of what they shredded go in
// the same transaction, so nothing unreadable stays findable.
func TestSearchTokensGoWithTheirKeys(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	id := f.threadToProvider(rep, prov, "Biopsy results for J. Doe")
	f.index()
	msgs := f.messageIDs(id)
	if n := f.count(`SELECT count(*) FROM messages WHERE id = $1 AND cardinality(search_tokens) > 0`, msgs[0]); n != 1 {
		t.Fatal("the message has no tokens after indexing")
	}
	if _, err := f.messages.Recall(f.ctx, asStaff(rep), msgs[0]); err != nil {
		t.Fatal(err)
	}
	// The only message went, and with it the subject.
	if n := f.count(`SELECT count(*) FROM messages WHERE id = $1 AND search_tokens = '{}'`, msgs[0]); n != 1 {
		t.Error("the recalled message kept its tokens")
	}
	if n := f.count(`SELECT count(*) FROM threads WHERE id = $1 AND search_tokens = '{}'`, id); n != 1 {
		t.Error("the shredded subject kept its tokens")
	}
}

// A new name is found by the new name only, once indexed again; until
// then the provider is searched as unindexed.
func TestSearchTokensFollowANameChange(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	f.exec(`UPDATE users SET display_name = 'Dr. Alvarez' WHERE id = $1`, prov.ID)
	id := f.threadToProvider(rep, prov, "Referral")
	f.index()
	f.exec(`UPDATE users SET display_name = 'Dr. Okafor' WHERE id = $1`, prov.ID)
	if n := f.count(`SELECT count(*) FROM users WHERE id = $1 AND search_tokens IS NULL`, prov.ID); n != 1 {
		t.Fatal("a changed name kept its old tokens")
	}
	for _, indexed := range []bool{false, true} {
		if indexed {
			f.index()
		}
		if got, _ := f.search(f.messages, asStaff(rep), "okafor", messaging.Page{}); !slices.Equal(got, []string{id}) {
			t.Errorf("indexed %v: the new name found %v, want the thread", indexed, got)
		}
		if got, _ := f.search(f.messages, asStaff(rep), "alvarez", messaging.Page{}); len(got) != 0 {
			t.Errorf("indexed %v: the old name found %v, want nothing", indexed, got)
		}
	}
}

// The search key is a data key like the others: one, wrapped by the KEK,
// made once however many stores ask.
func TestSearchKeyIsOneWrappedDataKey(t *testing.T) {
	f := newStoreFixture(t)
	f.index()
	if _, err := f.withLimits(postgres.MessagingLimits{}).IndexPending(f.ctx, 1); err != nil {
		t.Fatal(err)
	}
	if n := f.count(`SELECT count(*) FROM data_keys WHERE owner_kind = 'search-key'`); n != 1 {
		t.Errorf("%d search keys stored, want 1", n)
	}
}
