package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Drafts holds such forms sealed for a few minutes (table drafts).
type Drafts struct {
	pool *pgxpool.Pool
	keys *DataKeys
}

// NewDrafts returns the store.
func NewDrafts(pool *pgxpool.Pool, keys *DataKeys) *Drafts { return &Drafts{pool: pool, keys: keys} }

// draftSeal is where a draft's fields live: their own data key, bound to
// the draft's row.
func draftSeal(id string) (Owner, envelope.Binding) {
	return Owner{Kind: "draft", ID: id}, envelope.Binding{Purpose: "draft", Table: "drafts", Column: "fields_ct", RowID: id}
}

func draftTokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// draftFileSeals are where a held file lives: its stream and its name,
// each under its own data key, bound to its row.
func draftFileSeals(id string) (data, name Owner, dataB, nameB envelope.Binding) {
	return Owner{Kind: "draft-file", ID: id}, Owner{Kind: "draft-file-name", ID: id},
		envelope.Binding{Purpose: "draft-file", Table: "draft_files", Column: "data_key", RowID: id},
		envelope.Binding{Purpose: "draft-file-name", Table: "draft_files", Column: "name_ct", RowID: id}
}

// Hold seals d, and each of files (at most maxFileBytes each), for ttl and
// returns the token that gives them back.
func (s *Drafts) Hold(ctx context.Context, d messaging.Draft, files messaging.Uploads, maxFileBytes int64, ttl time.Duration) (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	fields, err := json.Marshal(d.Fields)
	if err != nil {
		return "", err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := newUUID()
		if err != nil {
			return err
		}
		owner, b := draftSeal(id)
		keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, fields)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO drafts (id, token_hash, form_path, fields_key, fields_ct, expires_at)
			VALUES ($1, $2, $3, $4, $5, now() + $6::interval)`, id, draftTokenHash(token), d.FormPath, keyID, ct, ttl)
		if err != nil || files == nil {
			return err
		}
		return s.holdFiles(ctx, tx, id, d.FormPath, files, maxFileBytes, ttl)
	})
	return token, wrap("hold draft", err)
}

// holdFiles seals each of files as draftID's.
func (s *Drafts) holdFiles(ctx context.Context, tx pgx.Tx, draftID, formPath string, files messaging.Uploads, maxFileBytes int64, ttl time.Duration) error {
	for position := 0; ; position++ {
		u, err := files.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		id, err := newUUID()
		if err != nil {
			return err
		}
		data, name, dataB, nameB := draftFileSeals(id)
		dataKey, size, err := s.keys.WriteStream(ctx, tx, data, dataB, u.Body, maxFileBytes)
		if c, ok := u.Body.(io.Closer); ok {
			c.Close()
		}
		if err != nil {
			return err
		}
		nameKey, nameCT, err := s.keys.SealRecord(ctx, tx, name, nameB, []byte(u.Name))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO draft_files (id, draft_id, form_path, position, data_key, name_key, name_ct, size, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now() + $9::interval)`, id, draftID, formPath, position, dataKey, nameKey, nameCT, size, ttl); err != nil {
			return err
		}
	}
}

// keptFiles are the files of draft_files rows matching cond ($1, $2, ...
// args), oldest first, with their names opened.
func (s *Drafts) keptFiles(ctx context.Context, q Querier, cond string, args ...any) ([]messaging.KeptFile, error) {
	rows, err := q.Query(ctx, `SELECT id::text, name_key::text, name_ct, size FROM draft_files WHERE `+cond+` ORDER BY position`, args...)
	if err != nil {
		return nil, err
	}
	type row struct {
		f       messaging.KeptFile
		nameKey string
		ct      []byte
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.f.ID, &x.nameKey, &x.ct, &x.f.Size)
	})
	if err != nil {
		return nil, err
	}
	out := make([]messaging.KeptFile, 0, len(list))
	for _, x := range list {
		_, name, _, nameB := draftFileSeals(x.f.ID)
		pt, err := s.keys.OpenRecord(ctx, q, x.nameKey, name, nameB, x.ct)
		if err != nil {
			return nil, err
		}
		x.f.Name = string(pt)
		out = append(out, x.f)
	}
	return out, nil
}

// Kept are the files given back to userID for the form at formPath among
// ids, unexpired, in their order; ids that are not are left out.
func (s *Drafts) Kept(ctx context.Context, userID int64, formPath string, ids []string) ([]messaging.KeptFile, error) {
	list, err := s.keptFiles(ctx, s.pool, `user_id = $1 AND form_path = $2 AND id::text = ANY($3) AND expires_at > now()`, userID, formPath, ids)
	return list, wrap("kept files", err)
}

// OpenKept reads a kept file of userID's.
func (s *Drafts) OpenKept(ctx context.Context, userID int64, id string) (io.ReadCloser, error) {
	var dataKey string
	err := s.pool.QueryRow(ctx, `SELECT data_key::text FROM draft_files WHERE id = $1 AND user_id = $2 AND expires_at > now()`, id, userID).Scan(&dataKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, messaging.ErrNotFound
	}
	if err != nil {
		return nil, wrap("open kept file", err)
	}
	data, _, dataB, _ := draftFileSeals(id)
	r, err := s.keys.OpenStream(ctx, dataKey, data, dataB)
	return r, wrap("open kept file", err)
}

// Release destroys kept files of userID's (the message was sent with them).
func (s *Drafts) Release(ctx context.Context, userID int64, ids []string) error {
	return wrap("release kept files", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := s.keys.ShredReturned(ctx, tx, `WITH gone AS (DELETE FROM draft_files WHERE user_id = $1 AND id::text = ANY($2) RETURNING data_key, name_key)
			SELECT unnest(ARRAY[data_key, name_key])::text FROM gone`, userID, ids)
		return err
	}))
}

// Take gives back, once, the unexpired draft of token for the form at
// formPath, deleting it and shredding its key; false when there is none.
// Its files become userID's for keep more, to be sent with the form.
func (s *Drafts) Take(ctx context.Context, token, formPath string, userID int64, keep time.Duration) (messaging.Draft, bool, error) {
	var d messaging.Draft
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The draft's files first: deleting the draft unlinks them.
		rows, err := tx.Query(ctx, `SELECT f.id::text FROM draft_files f JOIN drafts d ON d.id = f.draft_id
			WHERE d.token_hash = $1 AND d.form_path = $2 AND d.expires_at > now()`, draftTokenHash(token), formPath)
		if err != nil {
			return err
		}
		heldFiles, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		var id, keyID string
		var ct []byte
		err = tx.QueryRow(ctx, `DELETE FROM drafts WHERE token_hash = $1 AND form_path = $2 AND expires_at > now()
			RETURNING id::text, fields_key::text, fields_ct`, draftTokenHash(token), formPath).Scan(&id, &keyID, &ct)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		owner, b := draftSeal(id)
		pt, err := s.keys.OpenRecord(ctx, tx, keyID, owner, b, ct)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(pt, &d.Fields); err != nil {
			return err
		}
		d.FormPath, found = formPath, true
		rows, err = tx.Query(ctx, `UPDATE draft_files SET user_id = $2, expires_at = least(now() + $3::interval, created_at + interval '24 hours')
			WHERE id = ANY($1::uuid[]) RETURNING id::text`, heldFiles, userID, keep)
		if err != nil {
			return err
		}
		files, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if d.Files, err = s.keptFiles(ctx, tx, `id::text = ANY($1)`, files); err != nil {
			return err
		}
		return s.keys.Shred(ctx, tx, keyID)
	})
	return d, found, wrap("take draft", err)
}

// PurgeExpired deletes the drafts past their time and shreds their keys.
func (s *Drafts) PurgeExpired(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		if _, err = s.keys.ShredReturned(ctx, tx, `WITH gone AS (DELETE FROM draft_files WHERE expires_at <= now() RETURNING data_key, name_key)
			SELECT unnest(ARRAY[data_key, name_key])::text FROM gone`); err != nil {
			return err
		}
		n, err = s.keys.ShredReturned(ctx, tx, `DELETE FROM drafts WHERE expires_at <= now() RETURNING fields_key::text`)
		return err
	})
	return n, wrap("purge drafts", err)
}
