package postgres

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Search narrows, then decrypts. Each term of q long enough to be indexed
// (internal/blindindex) becomes a condition on the keyed tokens of
// migration 0021: some subject, message or provider of the thread holds
// all of the term's tokens, or has not been indexed yet. The newest
// threads, then those that pass, are read newest first, in growing batches; their subjects (and,
// unless q.TitlesOnly, their messages and file names) are opened on as
// many goroutines as there are cores and compared with q in memory, until
// there is a page or the time is up. So a search costs what its matches
// cost, not what the archive holds, while:
//   - the database never sees a term or a word: tokens only, and the
//     terms are in no SQL (nor in a query log);
//   - what was withdrawn or expired is unfindable at once: its key is
//     gone, and its tokens are emptied in the same transaction;
//   - a term of only short words (under blindindex.MinPrefix letters)
//     narrows nothing; a query of only such terms reads every thread in
//     scope, as before the index.
//
// A search is bounded by time (MessagingLimits.SearchTime): past it, the
// result says how far back it looked and Next continues from there.
// docs/PERFORMANCE.md has the figures, docs/SECURITY.md what the tokens
// reveal.
func (s *MessagingStore) Search(ctx context.Context, v messaging.Viewer, p messaging.Page, q messaging.Query) (messaging.SearchResult, error) {
	if p.Limit <= 0 {
		p.Limit = 25
	}
	budget := s.limits.SearchTime
	if budget <= 0 {
		budget = 2 * time.Second
	}
	deadline := time.Now().Add(budget)
	var res messaging.SearchResult
	var found []searchCandidate
	var within []string // the index's candidates; nil: not narrowed
	// The first batch is small so that a common word answers at once; a
	// rare one soon reads in larger steps.
	for batch := 100; ; batch = min(batch*2, 2000) {
		// The newest threads are read whole, without the index: a common
		// word finds its page among them at once, while asking the index
		// would fetch every record that holds it. Past them, the index
		// is asked once.
		if batch == 200 {
			var err error
			if within, err = s.indexCandidates(ctx, q); err != nil {
				return res, wrap("search", err)
			}
		}
		cands, err := s.searchCandidates(ctx, v, p, within, batch)
		if err != nil {
			return res, wrap("search", err)
		}
		matched, err := s.matchCandidates(ctx, cands, q)
		if err != nil {
			return res, wrap("search", err)
		}
		for i, c := range cands {
			res.Searched++
			if matched[i] {
				found = append(found, c)
			}
			if len(found) > p.Limit {
				break
			}
		}
		if len(found) > p.Limit {
			last := found[p.Limit-1]
			res.Next = formatCursor(last.at, last.id)
			found = found[:p.Limit]
			break
		}
		if len(cands) < batch {
			break // searched everything in scope
		}
		last := cands[len(cands)-1]
		p.Before = formatCursor(last.at, last.id)
		if time.Now().After(deadline) || ctx.Err() != nil {
			res.Partial, res.SearchedBackTo, res.Next = true, last.at, p.Before
			break
		}
	}
	if len(found) == 0 {
		return res, nil
	}
	ids := make([]string, len(found))
	for i, c := range found {
		ids[i] = c.id
	}
	// The page itself is read as the inbox reads it (unread counts,
	// owners, flags), for exactly the threads found.
	page := messaging.Page{Limit: len(ids), IDs: ids, NotOpenedBefore: p.NotOpenedBefore}
	threads, _, err := s.Inbox(ctx, v, page)
	res.Threads = threads
	return res, err
}

// searchCandidate is a thread to compare with a query.
type searchCandidate struct {
	id, subjectKey string
	subjectCT      []byte
	subjectDK      joinedKey
	at             time.Time
	provider       string // folded name and address
}

// searchCandidates reads the next n threads of page p (p.Before is the
// cursor), in the viewer's scope, newest first; only those among within
// unless within is nil.
func (s *MessagingStore) searchCandidates(ctx context.Context, v messaging.Viewer, p messaging.Page, within []string, n int) ([]searchCandidate, error) {
	if !p.NotOpenedOnly {
		p.NotOpenedBefore = time.Time{} // no flag to show here: no unused argument
	}
	cond, args, _ := pageConds(v, p)
	if within != nil {
		args = append(args, within)
		cond = append(cond, `t.id = ANY($`+strconv.Itoa(len(args))+`::uuid[])`)
	}
	limit := limitSQL(n)
	where := append([]string{threadScope(v)}, cond...)
	if v.Staff && !v.Emergency && within == nil {
		where = append(where, `t.id IN (`+staffPageCandidates(cond, limit)+`)`)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT t.id::text, t.subject_key::text, t.subject_ct, t.last_message_at, coalesce(pu.display_name, '') || ' ' || pu.email::text, `+keyColumns+`
		FROM threads t
		JOIN users pu ON pu.id = t.provider_id
		LEFT JOIN data_keys dk ON dk.id = t.subject_key
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY t.last_message_at DESC, t.id DESC
		LIMIT `+limit, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []searchCandidate
	for rows.Next() {
		var c searchCandidate
		if err := rows.Scan(append([]any{&c.id, &c.subjectKey, &c.subjectCT, &c.at, &c.provider}, c.subjectDK.dest()...)...); err != nil {
			return nil, err
		}
		c.provider = messaging.Fold(c.provider)
		out = append(out, c)
	}
	return out, rows.Err()
}

// indexCapRows bounds what the index is asked for one term: a term in
// more records than this is too common to narrow much, and reading them
// all would cost more than decrypting until a page is found.
const indexCapRows = 20000

// indexCandidates asks the index which threads may hold every term of q:
// per term that can narrow, the threads whose subject, provider or
// (unless q.TitlesOnly) one of its messages holds all the term's tokens,
// or is not indexed yet; then the threads every such term gave. nil: no
// term narrows (all too short, or too common). The threads are not yet
// limited to the viewer's: searchCandidates does that.
func (s *MessagingStore) indexCandidates(ctx context.Context, q messaging.Query) ([]string, error) {
	key, err := s.search.get(ctx)
	if err != nil {
		return nil, err
	}
	var within map[string]bool
	for _, term := range q.Terms {
		tokens := key.TermTokens(term)
		if tokens == nil {
			continue
		}
		rows, err := s.pool.Query(ctx, mayHoldSQL(q.TitlesOnly)+` LIMIT $2`, tokens, indexCapRows+1)
		if err != nil {
			return nil, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, err
		}
		if len(ids) > indexCapRows {
			continue
		}
		next := make(map[string]bool, len(ids))
		for _, id := range ids {
			if within == nil || within[id] {
				next[id] = true
			}
		}
		within = next
	}
	if within == nil {
		return nil, nil
	}
	out := make([]string, 0, len(within)) // empty, not nil, when nothing can match
	for id := range within {
		out = append(out, id)
	}
	return out, nil
}

// mayHoldSQL selects the threads that may hold a term whose tokens are
// $1: its subject, its provider or (unless titlesOnly) one of its
// messages holds them all, or is not indexed yet. Each source is its own
// branch, so each uses its own index; a thread may come more than once.
func mayHoldSQL(titlesOnly bool) string {
	branches := []string{
		`SELECT id::text FROM threads WHERE search_tokens @> $1`,
		`SELECT id::text FROM threads WHERE search_tokens IS NULL`,
		`SELECT x.id::text FROM users u JOIN threads x ON x.provider_id = u.id WHERE u.search_tokens @> $1`,
		`SELECT x.id::text FROM users u JOIN threads x ON x.provider_id = u.id WHERE u.search_tokens IS NULL`,
	}
	if !titlesOnly {
		branches = append(branches,
			`SELECT thread_id::text FROM messages WHERE search_tokens @> $1`,
			`SELECT thread_id::text FROM messages WHERE search_tokens IS NULL`)
	}
	return strings.Join(branches, " UNION ALL ")
}

// matchCandidates tells which candidates hold every term of q.
func (s *MessagingStore) matchCandidates(ctx context.Context, cands []searchCandidate, q messaging.Query) ([]bool, error) {
	workers := runtime.GOMAXPROCS(0)
	found := make([]messaging.Found, len(cands))
	recs := make([]SealedRecord, len(cands))
	keys := make([]joinedKey, len(cands))
	for i, c := range cands {
		found[i] = q.Match(0, c.provider)
		owner, b := subjectSeal(c.id)
		recs[i], keys[i] = SealedRecord{DataKeyID: c.subjectKey, Owner: owner, Binding: b, CT: c.subjectCT}, c.subjectDK
	}
	// Each goroutine writes only its own records' entries.
	err := s.keys.openEach(recs, keys, workers, func(i int, pt []byte) {
		if pt != nil {
			found[i] = q.Match(found[i], messaging.Fold(string(pt)))
		}
	})
	if err != nil {
		return nil, err
	}
	if !q.TitlesOnly {
		if err := s.matchContents(ctx, cands, found, q, workers); err != nil {
			return nil, err
		}
	}
	matched := make([]bool, len(cands))
	for i := range cands {
		matched[i] = q.All(found[i])
	}
	return matched, nil
}

// matchContents adds to found what the messages and file names of the
// candidates not yet matched hold. Withdrawn messages are skipped (their
// keys are gone anyway).
func (s *MessagingStore) matchContents(ctx context.Context, cands []searchCandidate, found []messaging.Found, q messaging.Query, workers int) error {
	index := make(map[string]int, len(cands))
	var ids []string
	for i, c := range cands {
		if !q.All(found[i]) {
			index[c.id] = i
			ids = append(ids, c.id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT m.thread_id::text, 'body', m.id::text, m.body_key::text, m.body_ct, `+keyColumns+`
		FROM messages m LEFT JOIN data_keys dk ON dk.id = m.body_key
		WHERE m.thread_id = ANY($1::uuid[]) AND m.recalled_at IS NULL
		UNION ALL
		SELECT m.thread_id::text, 'name', a.id::text, a.name_key::text, a.name_ct, `+keyColumns+`
		FROM messages m JOIN attachments a ON a.message_id = m.id LEFT JOIN data_keys dk ON dk.id = a.name_key
		WHERE m.thread_id = ANY($1::uuid[]) AND m.recalled_at IS NULL`, ids)
	if err != nil {
		return err
	}
	var recs []SealedRecord
	var keys []joinedKey
	var thread []int // recs[i] belongs to cands[thread[i]]
	for rows.Next() {
		var threadID, kind, id string
		var r SealedRecord
		var k joinedKey
		if err := rows.Scan(append([]any{&threadID, &kind, &id, &r.DataKeyID, &r.CT}, k.dest()...)...); err != nil {
			rows.Close()
			return err
		}
		if kind == "body" {
			r.Owner, r.Binding = bodySeal(threadID, id)
		} else {
			r.Owner, r.Binding = attachmentNameSeal(threadID, id)
		}
		recs, keys, thread = append(recs, r), append(keys, k), append(thread, index[threadID])
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// Records are matched on their own, then merged per thread: a thread's
	// terms may be spread over several messages.
	each := make([]messaging.Found, len(recs))
	err = s.keys.openEach(recs, keys, workers, func(i int, pt []byte) {
		if pt != nil {
			each[i] = q.Match(0, messaging.Fold(string(pt)))
		}
	})
	if err != nil {
		return err
	}
	for i, f := range each {
		found[thread[i]] |= f
	}
	return nil
}
