package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
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

// Hold seals d for ttl and returns the token that gives it back.
func (s *Drafts) Hold(ctx context.Context, d messaging.Draft, ttl time.Duration) (string, error) {
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
		_, err = tx.Exec(ctx, `INSERT INTO drafts (id, token_hash, form_path, fields_key, fields_ct, files_dropped, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, now() + $7::interval)`, id, draftTokenHash(token), d.FormPath, keyID, ct, d.FilesDropped, ttl)
		return err
	})
	return token, wrap("hold draft", err)
}

// Take gives back, once, the unexpired draft of token for the form at
// formPath, deleting it and shredding its key; false when there is none.
func (s *Drafts) Take(ctx context.Context, token, formPath string) (messaging.Draft, bool, error) {
	var d messaging.Draft
	found := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id, keyID string
		var ct []byte
		err := tx.QueryRow(ctx, `DELETE FROM drafts WHERE token_hash = $1 AND form_path = $2 AND expires_at > now()
			RETURNING id::text, fields_key::text, fields_ct, files_dropped`, draftTokenHash(token), formPath).Scan(&id, &keyID, &ct, &d.FilesDropped)
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
		return s.keys.Shred(ctx, tx, keyID)
	})
	return d, found, wrap("take draft", err)
}

// PurgeExpired deletes the drafts past their time and shreds their keys.
func (s *Drafts) PurgeExpired(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) (err error) {
		n, err = s.keys.ShredReturned(ctx, tx, `DELETE FROM drafts WHERE expires_at <= now() RETURNING fields_key::text`)
		return err
	})
	return n, wrap("purge drafts", err)
}
