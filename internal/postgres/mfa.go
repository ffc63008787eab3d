package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
)

// totpSeal is where an authenticator secret lives: its own data key per
// secret, bound to the row, so a secret copied onto another user's row
// does not open.
func totpSeal(id int64) (Owner, envelope.Binding) {
	row := strconv.FormatInt(id, 10)
	return Owner{Kind: "totp-secret", ID: row}, envelope.Binding{Purpose: "totp-secret", Table: "totp_secrets", Column: "secret_ct", RowID: row}
}

func (s *AccountStore) SetTOTP(ctx context.Context, userID int64, secret string, step int64, recovery [][]byte, ev audit.Event, jobs ...accounts.Job) error {
	return wrap("set totp", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The user's row first: two tabs setting up an app at once queue here.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, userID); err != nil {
			return err
		}
		if err := s.dropTOTP(ctx, tx, `user_id = $1`, userID); err != nil {
			return err
		}
		// The id comes first: it is bound into the ciphertext.
		var id int64
		if err := tx.QueryRow(ctx, `INSERT INTO totp_secrets (user_id, data_key_id, secret_ct, last_step)
			VALUES ($1, gen_random_uuid(), '', $2) RETURNING id`, userID, step).Scan(&id); err != nil {
			return err
		}
		owner, b := totpSeal(id)
		keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, []byte(secret))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE totp_secrets SET data_key_id = $2, secret_ct = $3 WHERE id = $1`, id, keyID, ct); err != nil {
			return err
		}
		if err := replaceRecoveryCodes(ctx, tx, userID, recovery); err != nil {
			return err
		}
		return s.record(ctx, tx, ev, jobs...)
	}))
}

func (s *AccountStore) TOTP(ctx context.Context, userID int64) (accounts.TOTPSecret, error) {
	var t accounts.TOTPSecret
	var keyID string
	var ct []byte
	err := s.pool.QueryRow(ctx, `SELECT id, data_key_id::text, secret_ct, created_at, last_step
		FROM totp_secrets WHERE user_id = $1`, userID).Scan(&t.ID, &keyID, &ct, &t.CreatedAt, &t.LastStep)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, accounts.ErrNotFound
	}
	if err != nil {
		return t, wrap("totp", err)
	}
	owner, b := totpSeal(t.ID)
	secret, err := s.keys.OpenRecord(ctx, s.pool, keyID, owner, b, ct)
	if err != nil {
		return t, wrap("open totp", err)
	}
	t.Secret = string(secret)
	return t, nil
}

// dropTOTP deletes the secrets matching where and shreds their keys.
func (s *AccountStore) dropTOTP(ctx context.Context, tx pgx.Tx, where string, args ...any) error {
	_, err := s.keys.ShredReturned(ctx, tx, `DELETE FROM totp_secrets WHERE `+where+` RETURNING data_key_id::text`, args...)
	return err
}

func (s *AccountStore) UseTOTPStep(ctx context.Context, secretID, step int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE totp_secrets SET last_step = $2 WHERE id = $1 AND last_step < $2`, secretID, step)
	if err != nil {
		return false, wrap("use totp step", err)
	}
	return tag.RowsAffected() == 1, nil
}

func (s *AccountStore) UseRecoveryCode(ctx context.Context, userID int64, hash []byte, ev audit.Event, jobs ...accounts.Job) (bool, error) {
	used := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var left int
		err := tx.QueryRow(ctx, `WITH spent AS (
				UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_sha256 = $2 AND used_at IS NULL RETURNING 1)
			SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL AND EXISTS (SELECT 1 FROM spent)`, userID, hash).Scan(&left)
		if err != nil {
			return err
		}
		// The count is of the snapshot before the update: one of them is the code just spent.
		if left == 0 {
			return nil
		}
		used = true
		ev.Detail = map[string]any{"codes_left": left - 1}
		return s.record(ctx, tx, ev, jobs...)
	})
	return used, wrap("use recovery code", err)
}

func (s *AccountStore) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes [][]byte, ev audit.Event, jobs ...accounts.Job) error {
	return wrap("replace recovery codes", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := replaceRecoveryCodes(ctx, tx, userID, hashes); err != nil {
			return err
		}
		return s.record(ctx, tx, ev, jobs...)
	}))
}

func replaceRecoveryCodes(ctx context.Context, tx pgx.Tx, userID int64, hashes [][]byte) error {
	if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO recovery_codes (user_id, code_sha256) SELECT $1, unnest($2::bytea[])`, userID, hashes)
	return err
}

func (s *AccountStore) RemoveSecondFactors(ctx context.Context, userID int64, ev audit.Event, jobs ...accounts.Job) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1 RETURNING `+userColumns, userID)); err != nil {
			return err
		}
		if err := s.dropTOTP(ctx, tx, `user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM passkeys WHERE user_id = $1`, userID); err != nil {
			return err
		}
		u.HasTOTP, u.Passkeys = false, 0
		return s.record(ctx, tx, ev, jobs...)
	})
	return u, wrap("remove second factors", err)
}

func (s *AccountStore) Factors(ctx context.Context, userID int64) (accounts.Factors, error) {
	var f accounts.Factors
	var since *time.Time
	err := s.pool.QueryRow(ctx, `SELECT
			(SELECT created_at FROM totp_secrets WHERE user_id = $1),
			(SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL)`, userID).Scan(&since, &f.RecoveryCodes)
	if since != nil {
		f.TOTPSince = *since
	}
	return f, wrap("factors", err)
}

func (s *AccountStore) Rehash(ctx context.Context, userID int64, newHash string) error {
	return wrap("rehash", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 AND password_hash IS NOT NULL`, userID, newHash); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Event{ActorID: userID, Action: audit.PasswordRehashed, TargetType: "user", TargetID: fmt.Sprint(userID)})
	}))
}
