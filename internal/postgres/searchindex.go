package postgres

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/blindindex"
	"github.com/healthnet/secureportal/internal/messaging"
)

// searchKeyOwner is the one data key whose secret makes the search
// index's tokens. Kept as a data key, it is wrapped by the KEK like every
// other and rewrapped by rotation; it is never shredded.
var searchKeyOwner = Owner{Kind: "search-key", ID: "v1"}

// searchKeys hands out the search index's key, read (or, the very first
// time, created) once per process.
type searchKeys struct {
	keys *DataKeys
	mu   sync.Mutex
	key  *blindindex.Key
}

func (s *searchKeys) get(ctx context.Context) (*blindindex.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	var secret []byte
	err := pgx.BeginFunc(ctx, s.keys.pool, func(tx pgx.Tx) error {
		// Two instances starting together must not make two keys.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('secureportal search key'))`); err != nil {
			return err
		}
		rows, err := loadKeyRows(ctx, tx, `owner_kind = $1 AND owner_id = $2`, searchKeyOwner.Kind, searchKeyOwner.ID)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			dek, err := s.keys.unwrap(rows[0], searchKeyOwner, false)
			if err != nil {
				return err
			}
			secret = dek.Bytes()
			return nil
		}
		_, dek, err := s.keys.newDataKey(ctx, tx, searchKeyOwner)
		if err != nil {
			return err
		}
		secret = dek.Bytes()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search key: %w", err)
	}
	defer clear(secret)
	if s.key, err = blindindex.NewKey(secret); err != nil {
		return nil, err
	}
	return s.key, nil
}

// IndexPending gives tokens to up to batch subjects, batch messages and
// batch users that have none yet (new ones, or a user whose name or
// address changed), and returns how many it indexed. Rows are locked
// while they are read and written, so a recall or an expiry that shreds
// one waits, then empties its tokens again (the trigger of migration
// 0021); rows another transaction holds are left for the next call.
func (s *MessagingStore) IndexPending(ctx context.Context, batch int) (int, error) {
	key, err := s.search.get(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, index := range []func(context.Context, pgx.Tx, *blindindex.Key, int) (int, error){
		s.indexSubjects, s.indexMessages, indexUsers,
	} {
		var n int
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			n, err = index(ctx, tx, key, batch)
			return err
		})
		if err != nil {
			return total, wrap("index for search", err)
		}
		total += n
	}
	return total, nil
}

func (s *MessagingStore) indexSubjects(ctx context.Context, tx pgx.Tx, key *blindindex.Key, batch int) (int, error) {
	rows, err := tx.Query(ctx, `SELECT t.id::text, t.subject_key::text, t.subject_ct, `+keyColumns+`
		FROM threads t LEFT JOIN data_keys dk ON dk.id = t.subject_key
		WHERE t.search_tokens IS NULL LIMIT $1 FOR UPDATE OF t SKIP LOCKED`, batch)
	if err != nil {
		return 0, err
	}
	var ids []string
	var recs []SealedRecord
	var keys []joinedKey
	for rows.Next() {
		var id string
		var r SealedRecord
		var k joinedKey
		if err := rows.Scan(append([]any{&id, &r.DataKeyID, &r.CT}, k.dest()...)...); err != nil {
			rows.Close()
			return 0, err
		}
		r.Owner, r.Binding = subjectSeal(id)
		ids, recs, keys = append(ids, id), append(recs, r), append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	tokens := make([][]int32, len(recs))
	err = s.keys.openEach(recs, keys, runtime.GOMAXPROCS(0), func(i int, pt []byte) {
		if pt != nil {
			tokens[i] = key.Tokens(messaging.Fold(string(pt)))
		}
	})
	if err != nil {
		return 0, err
	}
	return len(ids), setTokens(ctx, tx, "threads", ids, tokens)
}

func (s *MessagingStore) indexMessages(ctx context.Context, tx pgx.Tx, key *blindindex.Key, batch int) (int, error) {
	rows, err := tx.Query(ctx, `SELECT m.id::text, m.thread_id::text, 'body', m.id::text, m.body_key::text, m.body_ct, `+keyColumns+`
		FROM messages m LEFT JOIN data_keys dk ON dk.id = m.body_key
		WHERE m.search_tokens IS NULL LIMIT $1 FOR UPDATE OF m SKIP LOCKED`, batch)
	if err != nil {
		return 0, err
	}
	ids, recs, keys, owners, err := scanMessageRecords(rows)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	// The messages' files: their names are found with the message.
	rows, err = tx.Query(ctx, `SELECT a.message_id::text, m.thread_id::text, 'name', a.id::text, a.name_key::text, a.name_ct, `+keyColumns+`
		FROM attachments a JOIN messages m ON m.id = a.message_id LEFT JOIN data_keys dk ON dk.id = a.name_key
		WHERE a.message_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return 0, err
	}
	_, names, nameKeys, nameOwners, err := scanMessageRecords(rows)
	if err != nil {
		return 0, err
	}
	recs, keys, owners = append(recs, names...), append(keys, nameKeys...), append(owners, nameOwners...)
	// Tokens are made on the goroutine that opened the record (they cost
	// about as much as the decryption), then merged per message.
	each := make([][]int32, len(recs))
	err = s.keys.openEach(recs, keys, runtime.GOMAXPROCS(0), func(i int, pt []byte) {
		if pt != nil { // nil: shredded, nothing to find
			each[i] = key.Tokens(messaging.Fold(string(pt)))
		}
	})
	if err != nil {
		return 0, err
	}
	byMessage := make(map[string][]int32, len(ids))
	for i, list := range each {
		byMessage[owners[i]] = append(byMessage[owners[i]], list...)
	}
	tokens := make([][]int32, len(ids))
	for i, id := range ids {
		list := byMessage[id]
		slices.Sort(list)
		tokens[i] = slices.Compact(list)
	}
	return len(ids), setTokens(ctx, tx, "messages", ids, tokens)
}

// scanMessageRecords reads rows of (message id, thread id, kind, record
// id, data key id, ciphertext, keyColumns): a message's text ('body') or
// one of its file names ('name'). It returns the distinct message ids in
// order, and per record its sealed form, key and message.
func scanMessageRecords(rows pgx.Rows) (ids []string, recs []SealedRecord, keys []joinedKey, messages []string, err error) {
	defer rows.Close()
	for rows.Next() {
		var messageID, threadID, kind, id string
		var r SealedRecord
		var k joinedKey
		if err := rows.Scan(append([]any{&messageID, &threadID, &kind, &id, &r.DataKeyID, &r.CT}, k.dest()...)...); err != nil {
			return nil, nil, nil, nil, err
		}
		if kind == "body" {
			r.Owner, r.Binding = bodySeal(threadID, id)
			ids = append(ids, messageID)
		} else {
			r.Owner, r.Binding = attachmentNameSeal(threadID, id)
		}
		recs, keys, messages = append(recs, r), append(keys, k), append(messages, messageID)
	}
	return ids, recs, keys, messages, rows.Err()
}

// indexUsers indexes names and addresses, which are not encrypted (the
// portal must find an account by its address); a search for a provider
// uses the same tokens as every other.
func indexUsers(ctx context.Context, tx pgx.Tx, key *blindindex.Key, batch int) (int, error) {
	rows, err := tx.Query(ctx, `SELECT id::text, coalesce(display_name, '') || ' ' || email::text
		FROM users WHERE search_tokens IS NULL LIMIT $1 FOR UPDATE SKIP LOCKED`, batch)
	if err != nil {
		return 0, err
	}
	var ids []string
	var tokens [][]int32
	for rows.Next() {
		var id, text string
		if err := rows.Scan(&id, &text); err != nil {
			rows.Close()
			return 0, err
		}
		ids, tokens = append(ids, id), append(tokens, key.Tokens(messaging.Fold(text)))
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return len(ids), setTokens(ctx, tx, "users", ids, tokens)
}

// setTokens writes tokens[i] to row ids[i] of table in one statement.
// Arrays of arrays of unequal length do not travel as one parameter, so
// each goes as its text form ("{1,2,3}").
func setTokens(ctx context.Context, tx pgx.Tx, table string, ids []string, tokens [][]int32) error {
	if len(ids) == 0 {
		return nil
	}
	texts := make([]string, len(tokens))
	var sb strings.Builder
	for i, list := range tokens {
		sb.Reset()
		sb.WriteByte('{')
		for j, t := range list {
			if j > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString(strconv.FormatInt(int64(t), 10))
		}
		sb.WriteByte('}')
		texts[i] = sb.String()
	}
	idType := "uuid"
	if table == "users" {
		idType = "bigint"
	}
	_, err := tx.Exec(ctx, `UPDATE `+table+` x SET search_tokens = v.tokens::int4[]
		FROM unnest($1::text[], $2::text[]) AS v(id, tokens) WHERE x.id = v.id::`+idType, ids, texts)
	return err
}
