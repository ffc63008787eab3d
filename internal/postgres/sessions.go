package postgres

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
)

// SessionStore is the scs store of browser sessions (the sessions table;
// the token column holds scs's hash of the cookie's token). Beside the
// opaque session data it keeps whose session it is (user_id), so that a
// page's session and its signed-in user come back in one round trip
// (FindCtx) instead of two: on the inbox under load the second round trip
// was about a tenth of the portal's CPU (docs/PERFORMANCE.md). Errors that
// are the database out of reach are marked so (markUnavailable), as every
// other store's are: a page whose session cannot load gets the 503 "busy"
// page, not a 500. Expired rows are deleted by SweepExpired.
type SessionStore struct{ pool *pgxpool.Pool }

// SessionStore returns the store of browser sessions.
func (d *Database) SessionStore() *SessionStore { return &SessionStore{pool: d.pool} }

const findSession = `SELECT data FROM sessions WHERE token = $1 AND current_timestamp < expiry`

func (s *SessionStore) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// FindCtx reads the live session with this token. When ctx has room for
// it (accounts.WithSessionUser), the user the session belongs to is read
// in the same round trip, as a second statement of one batch, and left
// there for accounts.Service.SessionUser, which checks it exactly as it
// would a user it read itself.
func (s *SessionStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	batch := &pgx.Batch{}
	var b []byte
	found := false
	batch.Queue(findSession, token).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&b)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		found = err == nil
		return err
	})
	if accounts.WantsSessionUser(ctx) {
		batch.Queue(`SELECT `+userColumns+` FROM users WHERE id = (SELECT user_id FROM sessions WHERE token = $1 AND current_timestamp < expiry)`, token).
			QueryRow(func(row pgx.Row) error {
				u, err := scanUser(row)
				if errors.Is(err, accounts.ErrNotFound) {
					return nil // no one signed in, or a session saved before user_id was kept
				}
				if err == nil {
					accounts.PrefetchSessionUser(ctx, u)
				}
				return err
			})
	}
	if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
		return nil, false, markUnavailable(err)
	}
	return b, found, nil
}

func (s *SessionStore) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitUser(context.Background(), token, b, expiry, 0)
}

// CommitUser saves the session with whose it is (0: nobody signed in).
func (s *SessionStore) CommitUser(ctx context.Context, token string, b []byte, expiry time.Time, userID int64) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (token, data, expiry, user_id) VALUES ($1, $2, $3, nullif($4, 0))
		ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry, user_id = EXCLUDED.user_id`, token, b, expiry, userID)
	return markUnavailable(err)
}

func (s *SessionStore) Delete(token string) error { return s.DeleteCtx(context.Background(), token) }

func (s *SessionStore) DeleteCtx(ctx context.Context, token string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE token = $1`, token)
	return markUnavailable(err)
}

// All is every live session's data (scs's IterableStore).
func (s *SessionStore) All() (map[string][]byte, error) {
	rows, err := s.pool.Query(context.Background(), `SELECT token, data FROM sessions WHERE current_timestamp < expiry`)
	if err != nil {
		return nil, markUnavailable(err)
	}
	all := map[string][]byte{}
	var token string
	var data []byte
	_, err = pgx.ForEachRow(rows, []any{&token, &data}, func() error {
		all[token] = bytes.Clone(data)
		return nil
	})
	return all, markUnavailable(err)
}
