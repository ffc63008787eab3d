package postgres

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// Search decrypts on demand: it reads the viewer's threads newest first,
// in growing batches, opens their subjects (and, unless q.TitlesOnly,
// their messages and file names) on as many goroutines as there are
// cores, and compares them with q in memory, until it has a page or its
// time is up. Why this and not a keyed index of words (issue 14 weighed
// both; figures in docs/PERFORMANCE.md):
//   - nothing new is stored, so nothing new can leak: the database never
//     sees the terms (they are not in any SQL, so not in a query log
//     either) and holds no token that tells which threads share a word;
//   - what was withdrawn or expired is unsearchable at once, because its
//     key is gone; there is no index to keep in step with recall,
//     retention and key rotation;
//   - terms match inside words (a member ID's digits, the start of a name).
//
// The cost is linear in how many threads are searched, so a search is
// bounded by time (MessagingLimits.SearchTime): past it, the result says
// how far back it looked and Next continues from there.
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
	// The first batch is small so that a common word answers at once; a
	// rare one soon reads in larger steps.
	for batch := 100; ; batch = min(batch*2, 2000) {
		cands, err := s.searchCandidates(ctx, v, p, batch)
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
// cursor), in the viewer's scope, newest first.
func (s *MessagingStore) searchCandidates(ctx context.Context, v messaging.Viewer, p messaging.Page, n int) ([]searchCandidate, error) {
	if !p.NotOpenedOnly {
		p.NotOpenedBefore = time.Time{} // no flag to show here: no unused argument
	}
	cond, args, _ := pageConds(v, p)
	args = append(args, n)
	limit := "$" + strconv.Itoa(len(args))
	where := append([]string{threadScope(v)}, cond...)
	if v.Staff && !v.Emergency {
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
