package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/practices"
)

// PracticeStore implements practices.Store.
type PracticeStore struct {
	pool *pgxpool.Pool
	jobs JobInserter
}

// NewPracticeStore returns a store over pool that queues invitation emails
// with jobs.
func NewPracticeStore(pool *pgxpool.Pool, jobs JobInserter) *PracticeStore {
	return &PracticeStore{pool: pool, jobs: jobs}
}

var _ practices.Store = (*PracticeStore)(nil)

// practiceMailboxesSQL are the mailboxes of the practice provider $1 belongs
// to (none or one): the threads addressed to them are $1's to read too.
const practiceMailboxesSQL = `SELECT p.mailbox_id FROM practice_members pm JOIN practices p ON p.id = pm.practice_id WHERE pm.user_id = $1`

const practiceColumns = `p.id, p.name, p.npi, p.county, p.line_of_business, p.mailbox_id, mu.email::text, p.created_at`

func scanPractice(row pgx.Row, more ...any) (practices.Practice, error) {
	var p practices.Practice
	err := row.Scan(append([]any{&p.ID, &p.Name, &p.NPI, &p.County, &p.LineOfBusiness, &p.MailboxID, &p.MailboxEmail, &p.CreatedAt}, more...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, practices.ErrNotFound
	}
	return p, err
}

func (s *PracticeStore) Membership(ctx context.Context, userID int64) (practices.Practice, practices.Role, error) {
	var role practices.Role
	p, err := scanPractice(s.pool.QueryRow(ctx, `SELECT `+practiceColumns+`, pm.role
		FROM practice_members pm JOIN practices p ON p.id = pm.practice_id JOIN users mu ON mu.id = p.mailbox_id
		WHERE pm.user_id = $1`, userID), &role)
	return p, role, wrap("practice membership", err)
}

func (s *PracticeStore) PracticeOf(ctx context.Context, userID int64) (practices.Practice, error) {
	p, err := scanPractice(s.pool.QueryRow(ctx, `SELECT `+practiceColumns+`
		FROM practices p JOIN users mu ON mu.id = p.mailbox_id
		WHERE p.mailbox_id = $1 OR p.id = (SELECT practice_id FROM practice_members WHERE user_id = $1)`, userID))
	return p, wrap("practice of", err)
}

func (s *PracticeStore) Members(ctx context.Context, practiceID int64) ([]practices.Member, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.display_name, u.email::text, pm.role, u.id = p.mailbox_id, pm.joined_at
		FROM practice_members pm JOIN users u ON u.id = pm.user_id JOIN practices p ON p.id = pm.practice_id
		WHERE pm.practice_id = $1 ORDER BY u.id = p.mailbox_id DESC, pm.role, lower(u.display_name), u.email`, practiceID)
	if err != nil {
		return nil, wrap("practice members", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (practices.Member, error) {
		var m practices.Member
		return m, r.Scan(&m.UserID, &m.Name, &m.Email, &m.Role, &m.Mailbox, &m.JoinedAt)
	})
	return list, wrap("practice members", err)
}

const inviteColumns = `i.id, i.practice_id, p.name, i.user_id, u.email::text, coalesce(nullif(b.display_name, ''), b.email::text), i.expires_at
	FROM practice_invites i JOIN practices p ON p.id = i.practice_id JOIN users u ON u.id = i.user_id JOIN users b ON b.id = i.invited_by`

func (s *PracticeStore) invites(ctx context.Context, where string, arg int64) ([]practices.Invite, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+inviteColumns+` WHERE `+where+` AND i.expires_at > now() ORDER BY i.created_at, i.id`, arg)
	if err != nil {
		return nil, wrap("practice invites", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (practices.Invite, error) {
		var i practices.Invite
		return i, r.Scan(&i.ID, &i.PracticeID, &i.PracticeName, &i.UserID, &i.Email, &i.InvitedBy, &i.ExpiresAt)
	})
	return list, wrap("practice invites", err)
}

func (s *PracticeStore) Invites(ctx context.Context, practiceID int64) ([]practices.Invite, error) {
	return s.invites(ctx, `i.practice_id = $1`, practiceID)
}

func (s *PracticeStore) InvitesFor(ctx context.Context, userID int64) ([]practices.Invite, error) {
	return s.invites(ctx, `i.user_id = $1`, userID)
}

func (s *PracticeStore) Invitation(ctx context.Context, id int64) (practices.Invite, error) {
	list, err := s.invites(ctx, `i.id = $1`, id)
	if err == nil && len(list) == 0 {
		err = practices.ErrNotFound
	}
	if err != nil {
		return practices.Invite{}, err
	}
	return list[0], nil
}

// Invite queues the invitation's email with it: the worker reads the
// invitation (and mints a registration link for a new invitee) when it
// sends.
func (s *PracticeStore) Invite(ctx context.Context, practiceID int64, email string, by int64, expires time.Time, ev audit.Event) error {
	return wrap("practice invite", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		userID, created, err := ensureProvider(ctx, tx, email)
		if err != nil {
			return asPracticeInviteError(err)
		}
		if created {
			if err := AppendAudit(ctx, tx, audit.Event{ActorID: by, Action: audit.UserCreated, TargetType: "user", TargetID: strconv.FormatInt(userID, 10), IP: ev.IP,
				Detail: map[string]any{"role": "provider", "reason": "practice_invite"}}); err != nil {
				return err
			}
		}
		var inPractice int64
		err = tx.QueryRow(ctx, `SELECT practice_id FROM practice_members WHERE user_id = $1`, userID).Scan(&inPractice)
		switch {
		case err == nil && inPractice == practiceID:
			return practices.ErrAlreadyInvite
		case err == nil:
			return practices.ErrInAPractice
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// An expired invitation to the same address is renewed.
		var id int64
		err = tx.QueryRow(ctx, `INSERT INTO practice_invites (practice_id, user_id, invited_by, expires_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (practice_id, user_id) DO UPDATE SET invited_by = EXCLUDED.invited_by, expires_at = EXCLUDED.expires_at, created_at = now()
				WHERE practice_invites.expires_at <= now()
			RETURNING id`, practiceID, userID, by, expires).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return practices.ErrAlreadyInvite
		}
		if err != nil {
			return err
		}
		ev.Detail = map[string]any{"invite_id": id, "user_id": userID}
		if err := AppendAudit(ctx, tx, ev); err != nil {
			return err
		}
		_, err = s.jobs.InsertTx(ctx, tx, practices.InviteEmail{InviteID: id, Register: created}, nil)
		return err
	}))
}

// asPracticeInviteError turns ensureProvider's refusals into the practice's.
func asPracticeInviteError(err error) error {
	if errors.Is(err, messaging.ErrNotAProvider) || errors.Is(err, messaging.ErrProviderOff) {
		return practices.ErrNotAProvider
	}
	return err
}

func (s *PracticeStore) Create(ctx context.Context, p practices.Practice, ev audit.Event) (practices.Practice, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM practice_members WHERE user_id = $1)`, p.MailboxID).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return practices.ErrInAPractice
		}
		err := tx.QueryRow(ctx, `INSERT INTO practices (mailbox_id, name, npi, county, line_of_business) VALUES ($1, $2, $3, $4, $5)
			RETURNING id, created_at`, p.MailboxID, p.Name, p.NPI, p.County, p.LineOfBusiness).Scan(&p.ID, &p.CreatedAt)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			if pgErr.ConstraintName == "practices_npi_key" {
				return practices.ErrNPITaken
			}
			return practices.ErrInAPractice
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO practice_members (user_id, practice_id, role) VALUES ($1, $2, 'admin')`, p.MailboxID, p.ID); err != nil {
			return err
		}
		// The practice's invitations to this account are moot now.
		if _, err := tx.Exec(ctx, `DELETE FROM practice_invites WHERE user_id = $1`, p.MailboxID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT email::text FROM users WHERE id = $1`, p.MailboxID).Scan(&p.MailboxEmail); err != nil {
			return err
		}
		ev.TargetType, ev.TargetID = "practice", strconv.FormatInt(p.ID, 10)
		return AppendAudit(ctx, tx, ev)
	})
	return p, wrap("create practice", err)
}

func (s *PracticeStore) Accept(ctx context.Context, inviteID, userID int64, ev audit.Event) error {
	return wrap("accept practice invite", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var practiceID int64
		err := tx.QueryRow(ctx, `DELETE FROM practice_invites WHERE id = $1 AND user_id = $2 AND expires_at > now() RETURNING practice_id`,
			inviteID, userID).Scan(&practiceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return practices.ErrNotFound
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO practice_members (user_id, practice_id, role) VALUES ($1, $2, 'member') ON CONFLICT DO NOTHING`, userID, practiceID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return practices.ErrInAPractice
		}
		// Joining one practice answers every other invitation.
		if _, err := tx.Exec(ctx, `DELETE FROM practice_invites WHERE user_id = $1`, userID); err != nil {
			return err
		}
		ev.TargetType, ev.TargetID = "practice", strconv.FormatInt(practiceID, 10)
		ev.Detail = map[string]any{"invite_id": inviteID, "user_id": userID}
		return AppendAudit(ctx, tx, ev)
	}))
}

func (s *PracticeStore) DropInvite(ctx context.Context, inviteID, userID int64, byInvitee bool, ev audit.Event) error {
	return wrap("drop practice invite", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The invitee drops their own; an admin those of their practice.
		cond := `user_id = $2`
		if !byInvitee {
			cond = `practice_id = (SELECT practice_id FROM practice_members WHERE user_id = $2 AND role = 'admin')`
		}
		var practiceID int64
		err := tx.QueryRow(ctx, `DELETE FROM practice_invites WHERE id = $1 AND `+cond+` RETURNING practice_id`, inviteID, userID).Scan(&practiceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return practices.ErrNotFound
		}
		if err != nil {
			return err
		}
		if byInvitee {
			ev.TargetType, ev.TargetID = "practice", strconv.FormatInt(practiceID, 10)
		}
		return AppendAudit(ctx, tx, ev)
	}))
}

func (s *PracticeStore) Remove(ctx context.Context, practiceID, userID int64, ev audit.Event) error {
	return wrap("remove practice member", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var mailbox bool
		err := tx.QueryRow(ctx, `SELECT p.mailbox_id = pm.user_id FROM practice_members pm JOIN practices p ON p.id = pm.practice_id
			WHERE pm.practice_id = $1 AND pm.user_id = $2`, practiceID, userID).Scan(&mailbox)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return practices.ErrNotFound
		case err != nil:
			return err
		case mailbox:
			return practices.ErrMailboxStays
		}
		if _, err := tx.Exec(ctx, `DELETE FROM practice_members WHERE practice_id = $1 AND user_id = $2`, practiceID, userID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, ev)
	}))
}
