package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

// JobInserter is the part of a River client the stores use to enqueue work
// inside their own transactions.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// AccountStore implements accounts.Store.
type AccountStore struct {
	pool *pgxpool.Pool
	jobs JobInserter
	keys *DataKeys // seals authenticator secrets
}

// NewAccountStore returns a store over pool that enqueues jobs with jobs
// and seals authenticator secrets with keys.
func NewAccountStore(pool *pgxpool.Pool, jobs JobInserter, keys *DataKeys) *AccountStore {
	return &AccountStore{pool: pool, jobs: jobs, keys: keys}
}

var _ accounts.Store = (*AccountStore)(nil)

const userColumns = `id, email::text, display_name, role, status, coalesce(password_hash, ''), auth_epoch,
	failed_logins, coalesce(locked_until, 'epoch'), created_at, coalesce(last_login_at, 'epoch'),
	EXISTS (SELECT 1 FROM totp_secrets t WHERE t.user_id = users.id),
	(SELECT count(*) FROM passkeys p WHERE p.user_id = users.id)`

func scanUser(row pgx.Row) (accounts.User, error) {
	var u accounts.User
	err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.Role, &u.Status, &u.PasswordHash, &u.AuthEpoch,
		&u.FailedLogins, &u.LockedUntil, &u.CreatedAt, &u.LastLoginAt, &u.HasTOTP, &u.Passkeys)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, accounts.ErrNotFound
	}
	epoch := time.Unix(0, 0)
	if u.LockedUntil.Equal(epoch) {
		u.LockedUntil = time.Time{}
	}
	if u.LastLoginAt.Equal(epoch) {
		u.LastLoginAt = time.Time{}
	}
	return u, err
}

func (s *AccountStore) UserByEmail(ctx context.Context, email string) (accounts.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = $1`, email))
	return u, wrap("user by email", err)
}

func (s *AccountStore) UserByID(ctx context.Context, id int64) (accounts.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	return u, wrap("user by id", err)
}

func (s *AccountStore) CreateUser(ctx context.Context, nu accounts.NewUser, ev audit.Event, jobs func(accounts.User) []accounts.Job) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		status := accounts.StatusPending
		if nu.PasswordHash != "" {
			status = accounts.StatusActive
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			INSERT INTO users (email, display_name, role, status, password_hash, password_changed_at)
			VALUES ($1, $2, $3, $4, nullif($5, ''), CASE WHEN $5 <> '' THEN now() END)
			RETURNING `+userColumns, nu.Email, nu.DisplayName, nu.Role, status, nu.PasswordHash))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return accounts.ErrEmailTaken
		}
		if err != nil {
			return err
		}
		ev.TargetID = fmt.Sprint(u.ID)
		return s.record(ctx, tx, ev, jobs(u)...)
	})
	return u, wrap("create user", err)
}

func (s *AccountStore) RecordLoginFailure(ctx context.Context, userID int64, threshold int, lockUntil time.Time, ev audit.Event) (bool, error) {
	var locked bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The count resets when a lock starts, so the next lock needs another
		// full run of failures.
		err := tx.QueryRow(ctx, `
			UPDATE users SET
				failed_logins = CASE WHEN failed_logins + 1 >= $2 THEN 0 ELSE failed_logins + 1 END,
				locked_until  = CASE WHEN failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
			WHERE id = $1
			RETURNING locked_until IS NOT NULL AND locked_until = $3`, userID, threshold, lockUntil).Scan(&locked)
		if err != nil {
			return err
		}
		if err := s.record(ctx, tx, ev); err != nil {
			return err
		}
		if locked {
			return s.record(ctx, tx, audit.Event{Action: audit.AccountLocked, TargetType: "user", TargetID: fmt.Sprint(userID), IP: ev.IP,
				Detail: map[string]any{"until": lockUntil.UTC().Format(time.RFC3339), "failures": threshold}})
		}
		return nil
	})
	return locked, wrap("record login failure", err)
}

func (s *AccountStore) SignInHistory(ctx context.Context, userID int64) (accounts.SignInHistory, error) {
	var h accounts.SignInHistory
	// The newest sign-in is the current one; the one before it is "previous".
	err := s.pool.QueryRow(ctx, `SELECT at, ip FROM audit_events
		WHERE actor_id = $1 AND action = $2 ORDER BY at DESC OFFSET 1 LIMIT 1`, userID, audit.LoginSucceeded).Scan(&h.Previous, &h.PreviousIP)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return h, wrap("sign-in history", err)
	}
	err = s.pool.QueryRow(ctx, `SELECT count(*) FROM audit_events
		WHERE target_type = 'user' AND target_id = $1 AND action = $2 AND at > $3`,
		strconv.FormatInt(userID, 10), audit.LoginFailed, h.Previous).Scan(&h.FailedSince)
	if err != nil {
		return h, wrap("sign-in history", err)
	}
	// Sign-ins from before the second factor existed carry no factor: the
	// password was all there was.
	rows, err := s.pool.Query(ctx, `SELECT at, ip, coalesce(detail->>'factor', 'password') FROM audit_events
		WHERE actor_id = $1 AND action = $2 ORDER BY at DESC LIMIT 5`, userID, audit.LoginSucceeded)
	if err != nil {
		return h, wrap("sign-in history", err)
	}
	h.Recent, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (accounts.SignIn, error) {
		var si accounts.SignIn
		return si, r.Scan(&si.At, &si.IP, &si.Factor)
	})
	return h, wrap("sign-in history", err)
}

func (s *AccountStore) RecordLoginSuccess(ctx context.Context, userID int64, newHash string, ev audit.Event) error {
	return wrap("record login success", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = now(),
				password_hash = coalesce(nullif($2, ''), password_hash)
			WHERE id = $1`, userID, newHash)
		if err != nil {
			return err
		}
		if newHash != "" {
			if err := s.record(ctx, tx, audit.Event{ActorID: userID, Action: audit.PasswordRehashed, TargetType: "user", TargetID: fmt.Sprint(userID)}); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, ev)
	}))
}

func (s *AccountStore) InsertToken(ctx context.Context, t accounts.Token, sum []byte) error {
	return wrap("insert token", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Newest only: an older link stops working the moment a new one
		// exists. The user's row lock serialises links minted at once (two
		// mail jobs for one user), so each voids the one committed before it.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, t.UserID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE tokens SET used_at = now() WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL`,
			t.UserID, t.Purpose); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (user_id, purpose, token_sha256, next_path, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			t.UserID, t.Purpose, sum, t.NextPath, t.ExpiresAt)
		return err
	}))
}

const tokenColumns = `id, user_id, purpose, next_path, expires_at, coalesce(used_at, 'epoch')`

func scanToken(row pgx.Row) (accounts.Token, error) {
	var t accounts.Token
	err := row.Scan(&t.ID, &t.UserID, &t.Purpose, &t.NextPath, &t.ExpiresAt, &t.UsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, accounts.ErrNotFound
	}
	if t.UsedAt.Equal(time.Unix(0, 0)) {
		t.UsedAt = time.Time{}
	}
	return t, err
}

func (s *AccountStore) TokenByHash(ctx context.Context, sum []byte, now time.Time) (accounts.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2`, sum, now))
	return t, wrap("token by hash", err)
}

func (s *AccountStore) TokenByHashAnyState(ctx context.Context, sum []byte) (accounts.Token, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE token_sha256 = $1`, sum))
	return t, wrap("token by hash", err)
}

// consumeToken marks a token used if it still is usable; ErrNotFound when a
// concurrent request (a double submit) consumed it first.
func consumeToken(ctx context.Context, tx pgx.Tx, tokenID, userID int64, now time.Time) error {
	tag, err := tx.Exec(ctx, `UPDATE tokens SET used_at = $3 WHERE id = $1 AND user_id = $2 AND used_at IS NULL AND expires_at > $3`,
		tokenID, userID, now)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return accounts.ErrNotFound
	}
	return nil
}

func (s *AccountStore) CompleteRegistration(ctx context.Context, tokenID, userID int64, name, hash string, now time.Time, ev audit.Event) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := consumeToken(ctx, tx, tokenID, userID, now); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
			UPDATE users SET display_name = $2, password_hash = $3, status = 'active', password_changed_at = $4,
				failed_logins = 0, locked_until = NULL
			WHERE id = $1 AND status = 'pending'
			RETURNING `+userColumns, userID, name, hash, now))
		if err != nil {
			return err
		}
		return s.record(ctx, tx, ev)
	})
	return u, wrap("complete registration", err)
}

func (s *AccountStore) CompleteReset(ctx context.Context, tokenID, userID int64, hash string, now time.Time, ev audit.Event, jobs ...accounts.Job) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := consumeToken(ctx, tx, tokenID, userID, now); err != nil {
			return err
		}
		var err error
		if u, err = setPassword(ctx, tx, userID, hash, now); err != nil {
			return err
		}
		return s.record(ctx, tx, ev, jobs...)
	})
	return u, wrap("complete reset", err)
}

func (s *AccountStore) ChangePassword(ctx context.Context, userID int64, hash string, now time.Time, ev audit.Event, jobs ...accounts.Job) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if u, err = setPassword(ctx, tx, userID, hash, now); err != nil {
			return err
		}
		return s.record(ctx, tx, ev, jobs...)
	})
	return u, wrap("change password", err)
}

// setPassword replaces an active account's password, clears its failed
// sign-ins and lockout, and bumps its auth epoch so every session ends.
func setPassword(ctx context.Context, tx pgx.Tx, userID int64, hash string, now time.Time) (accounts.User, error) {
	return scanUser(tx.QueryRow(ctx, `
		UPDATE users SET password_hash = $2, password_changed_at = $3, auth_epoch = auth_epoch + 1,
			failed_logins = 0, locked_until = NULL
		WHERE id = $1 AND status = 'active'
		RETURNING `+userColumns, userID, hash, now))
}

// Record appends ev to the audit chain with its jobs. An event alone is
// one statement, committed by the server without waiting for this client:
// the chain's lock is held only while the database appends and commits.
func (s *AccountStore) Record(ctx context.Context, ev audit.Event, jobs ...accounts.Job) error {
	if len(jobs) == 0 {
		return wrap("record", AppendAudit(ctx, s.pool, ev))
	}
	return wrap("record", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return s.record(ctx, tx, ev, jobs...)
	}))
}

// record enqueues jobs and appends ev to the audit chain, inside tx. The
// append comes last (callers end their transaction with it too): it takes
// the chain's lock, which every audited write in the portal waits for
// until this transaction commits.
func (s *AccountStore) record(ctx context.Context, tx pgx.Tx, ev audit.Event, jobs ...accounts.Job) error {
	for _, j := range jobs {
		if _, err := s.jobs.InsertTx(ctx, tx, j, nil); err != nil {
			return fmt.Errorf("enqueue %s: %w", j.Kind(), err)
		}
	}
	return AppendAudit(ctx, tx, ev)
}

// AppendAudit writes one event to the hash-chained audit log inside tx.
func AppendAudit(ctx context.Context, tx Querier, ev audit.Event) error {
	args, err := auditArgs(ev)
	if err == nil {
		_, err = tx.Exec(ctx, appendAuditSQL, args...)
	}
	if err != nil {
		return fmt.Errorf("append audit %s: %w", ev.Action, err)
	}
	return nil
}

const appendAuditSQL = `SELECT audit_append($1, $2, $3, $4, $5, $6)`

// auditArgs are appendAuditSQL's arguments for ev.
func auditArgs(ev audit.Event) ([]any, error) {
	detail := ev.Detail
	if detail == nil {
		detail = map[string]any{}
	}
	b, err := json.Marshal(detail)
	if err != nil {
		return nil, fmt.Errorf("audit detail: %w", err)
	}
	var actor *int64
	if ev.ActorID != 0 {
		actor = &ev.ActorID
	}
	return []any{actor, string(ev.Action), ev.TargetType, ev.TargetID, ev.IP, b}, nil
}

// wrap prefixes store errors, keeping sentinels visible to errors.Is.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return markUnavailable(fmt.Errorf("postgres: %s: %w", op, err))
}

// adminUpdates is the state change of each admin action, guarded by the
// states it applies to so that a stale page or double submit changes nothing.
var adminUpdates = map[accounts.AdminAction]string{
	accounts.ActionResetLink: `UPDATE users SET auth_epoch = auth_epoch + 1,
		status = CASE WHEN status = 'locked' THEN 'active' ELSE status END, locked_until = NULL, failed_logins = 0
		WHERE id = $1 AND status IN ('active', 'locked') AND password_hash IS NOT NULL`,
	accounts.ActionForceReregister: `UPDATE users SET password_hash = NULL, status = 'pending', auth_epoch = auth_epoch + 1,
		locked_until = NULL, failed_logins = 0 WHERE id = $1 AND status IN ('active', 'locked')`,
	accounts.ActionUnlock: `UPDATE users SET status = CASE WHEN status = 'locked' THEN 'active' ELSE status END,
		locked_until = NULL, failed_logins = 0 WHERE id = $1 AND (status = 'locked' OR (status = 'active' AND locked_until > now()))`,
	accounts.ActionDisable:            `UPDATE users SET status = 'disabled', auth_epoch = auth_epoch + 1 WHERE id = $1 AND status <> 'disabled'`,
	accounts.ActionEnable:             `UPDATE users SET status = CASE WHEN password_hash IS NULL THEN 'pending' ELSE 'active' END WHERE id = $1 AND status = 'disabled'`,
	accounts.ActionResendRegistration: `UPDATE users SET status = status WHERE id = $1 AND status = 'pending'`,
	accounts.ActionEndSessions:        `UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1 AND status = 'active'`,
}

func (s *AccountStore) Administer(ctx context.Context, userID int64, action accounts.AdminAction, ev audit.Event, jobs ...accounts.Job) (accounts.User, error) {
	stmt, ok := adminUpdates[action]
	if !ok {
		return accounts.User{}, fmt.Errorf("postgres: administer: unknown action %q", action)
	}
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if action == accounts.ActionDisable || action == accounts.ActionForceReregister {
			if err := keepAnAdmin(ctx, tx, userID); err != nil {
				return err
			}
		}
		// No row back (ErrNotFound) means the account is not in a state the
		// action applies to.
		var err error
		if u, err = scanUser(tx.QueryRow(ctx, stmt+` RETURNING `+userColumns, userID)); err != nil {
			return err
		}
		if action == accounts.ActionForceReregister || action == accounts.ActionDisable {
			// Outstanding links stop working with the account they were for.
			if _, err := tx.Exec(ctx, `UPDATE tokens SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, userID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, ev, jobs...)
	})
	return u, wrap("administer", err)
}

// keepAnAdmin refuses (ErrLastAdmin) a change that takes userID out of the
// active admins when nobody else is one. It locks the active admins' rows in
// id order, so concurrent changes queue behind each other and each sees the
// outcome of the one before it.
func keepAnAdmin(ctx context.Context, tx pgx.Tx, userID int64) error {
	rows, err := tx.Query(ctx, `SELECT id FROM users WHERE role = 'admin' AND status = 'active' ORDER BY id FOR UPDATE`)
	if err != nil {
		return err
	}
	admins, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(admins) == 1 && admins[0] == userID {
		return accounts.ErrLastAdmin
	}
	return nil
}

func (s *AccountStore) SearchUsers(ctx context.Context, f accounts.UserFilter) ([]accounts.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE ($1 = '' OR strpos(lower(email::text), lower($1)) > 0 OR strpos(lower(display_name), lower($1)) > 0)
		AND ($2 = '' OR role = $2) AND ($3 = '' OR status = $3)
		ORDER BY lower(email::text) LIMIT $4 OFFSET $5`, f.Query, f.Role, f.Status, f.Limit, f.Offset)
	if err != nil {
		return nil, wrap("search users", err)
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (accounts.User, error) { return scanUser(r) })
	return users, wrap("search users", err)
}

func (s *AccountStore) ChangeRole(ctx context.Context, userID int64, role accounts.Role, ev audit.Event) (accounts.User, error) {
	var u accounts.User
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if role != accounts.RoleAdmin {
			if err := keepAnAdmin(ctx, tx, userID); err != nil {
				return err
			}
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `UPDATE users SET role = $2, auth_epoch = auth_epoch + 1 WHERE id = $1 RETURNING `+userColumns, userID, role))
		if err != nil {
			return err
		}
		if role != accounts.RoleStaff {
			// Only representatives belong to teams.
			if _, err := tx.Exec(ctx, `DELETE FROM team_members WHERE user_id = $1`, userID); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, ev)
	})
	return u, wrap("change role", err)
}

func (s *AccountStore) Profile(ctx context.Context, userID int64) (accounts.Profile, error) {
	p := accounts.Profile{Language: "en", Notify: accounts.NotifyEach}
	err := s.pool.QueryRow(ctx, `SELECT practice, phone, language, notify FROM provider_profiles WHERE user_id = $1`, userID).Scan(&p.Practice, &p.Phone, &p.Language, &p.Notify)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, nil
	}
	p.Saved = err == nil
	return p, wrap("profile", err)
}

func (s *AccountStore) UpdateProfile(ctx context.Context, userID int64, p accounts.Profile, ev audit.Event) error {
	return wrap("update profile", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE users SET display_name = $2 WHERE id = $1`, userID, p.Name); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO provider_profiles (user_id, practice, phone, language, notify) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (user_id) DO UPDATE SET practice = EXCLUDED.practice, phone = EXCLUDED.phone, language = EXCLUDED.language, notify = EXCLUDED.notify`,
			userID, p.Practice, p.Phone, p.Language, p.Notify); err != nil {
			return err
		}
		return s.record(ctx, tx, ev)
	}))
}
