package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

func (s *AccountStore) PasskeyHandle(ctx context.Context, userID int64) ([]byte, error) {
	fresh := make([]byte, 32)
	rand.Read(fresh) // crypto/rand.Read never fails on supported platforms
	var h []byte
	// The handle is made once: a concurrent first use keeps the first one.
	err := s.pool.QueryRow(ctx, `UPDATE users SET passkey_handle = coalesce(passkey_handle, $2) WHERE id = $1 RETURNING passkey_handle`,
		userID, fresh).Scan(&h)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, accounts.ErrNotFound
	}
	return h, wrap("passkey handle", err)
}

func (s *AccountStore) UserByPasskeyHandle(ctx context.Context, handle []byte) (accounts.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE passkey_handle = $1`, handle))
	return u, wrap("user by passkey handle", err)
}

func (s *AccountStore) Passkeys(ctx context.Context, userID int64) ([]accounts.Passkey, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, credential_id, record::text, created_at, last_used_at
		FROM passkeys WHERE user_id = $1 ORDER BY id`, userID)
	if err != nil {
		return nil, wrap("passkeys", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (accounts.Passkey, error) {
		var p accounts.Passkey
		var record string
		var used *time.Time
		err := r.Scan(&p.ID, &p.Name, &p.CredentialID, &record, &p.CreatedAt, &used)
		p.Record = []byte(record)
		if used != nil {
			p.LastUsedAt = *used
		}
		return p, err
	})
	return list, wrap("passkeys", err)
}

func (s *AccountStore) AddPasskey(ctx context.Context, userID int64, p accounts.Passkey, ev audit.Event, jobs ...accounts.Job) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO passkeys (user_id, credential_id, name, record) VALUES ($1, $2, $3, $4::jsonb)`,
			userID, p.CredentialID, p.Name, string(p.Record))
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return accounts.ErrPasskeyExists
		}
		if err != nil {
			return err
		}
		return s.record(ctx, tx, ev, jobs...)
	})
	return wrap("add passkey", err)
}

func (s *AccountStore) PasskeyUsed(ctx context.Context, credentialID, record []byte) error {
	_, err := s.pool.Exec(ctx, `UPDATE passkeys SET record = $2::jsonb, last_used_at = now() WHERE credential_id = $1`, credentialID, string(record))
	return wrap("passkey used", err)
}

func (s *AccountStore) RemovePasskey(ctx context.Context, userID, id int64, ev audit.Event, jobs ...accounts.Job) error {
	return wrap("remove passkey", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2`, id, userID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return accounts.ErrNotFound
		}
		return s.record(ctx, tx, ev, jobs...)
	}))
}
