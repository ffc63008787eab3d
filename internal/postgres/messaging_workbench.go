package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

const auditNoteAdded audit.Action = "thread.note_added"

// noteSeal is where a note's body lives: its own data key, bound to the
// note and its thread, so retention's shredding by thread reaches it.
func noteSeal(threadID, noteID string) (Owner, envelope.Binding) {
	return Owner{Kind: "thread-note", ID: noteID, ThreadID: threadID},
		envelope.Binding{Purpose: "thread-note", Table: "thread_notes", Column: "body_ct", RowID: noteID, ThreadID: threadID}
}

func (s *MessagingStore) AddNote(ctx context.Context, staff messaging.Viewer, threadID, body string) error {
	return wrap("add note", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var ok bool
		err := tx.QueryRow(ctx, `SELECT true FROM threads t WHERE `+threadScope(staff)+` AND t.id = $2 AND t.expired_at IS NULL`,
			staff.UserID, threadID).Scan(&ok)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		id, err := newUUID()
		if err != nil {
			return err
		}
		owner, b := noteSeal(threadID, id)
		keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, []byte(body))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO thread_notes (id, thread_id, author_id, body_key, body_ct) VALUES ($1, $2, $3, $4, $5)`,
			id, threadID, staff.UserID, keyID, ct); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditNoteAdded, TargetType: "thread", TargetID: threadID, IP: staff.IP,
			Detail: map[string]any{"note_id": id}})
	}))
}

// threadNotes opens a thread's notes for staff; a note whose key is gone
// (retention) is left out.
func (s *MessagingStore) threadNotes(ctx context.Context, q Querier, threadID string) ([]messaging.Note, error) {
	rows, err := q.Query(ctx, `SELECT n.id::text, coalesce(nullif(u.display_name, ''), u.email::text), n.body_key::text, n.body_ct, n.created_at
		FROM thread_notes n JOIN users u ON u.id = n.author_id WHERE n.thread_id = $1 ORDER BY n.created_at, n.id`, threadID)
	if err != nil {
		return nil, err
	}
	type row struct {
		id, key string
		ct      []byte
		note    messaging.Note
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.note.AuthorName, &x.key, &x.ct, &x.note.CreatedAt)
	})
	if err != nil {
		return nil, err
	}
	var notes []messaging.Note
	for _, x := range list {
		owner, b := noteSeal(threadID, x.id)
		body, ok, err := s.decryptOrWithdrawn(ctx, q, x.key, owner, b, x.ct)
		if err != nil {
			return nil, err
		}
		if ok {
			x.note.Body = body
			notes = append(notes, x.note)
		}
	}
	return notes, nil
}

// shredNotes destroys a thread's notes (retention).
func (s *MessagingStore) shredNotes(ctx context.Context, tx pgx.Tx, threadID string) (int, error) {
	return s.keys.ShredReturned(ctx, tx, `DELETE FROM thread_notes WHERE thread_id = $1 RETURNING body_key::text`, threadID)
}

const auditStatusChanged audit.Action = "thread.status_changed"

func (s *MessagingStore) SetStatus(ctx context.Context, staff messaging.Viewer, threadID string, st messaging.Status) error {
	return wrap("set status", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var from messaging.Status
		err := tx.QueryRow(ctx, `SELECT t.status FROM threads t WHERE `+threadScope(staff)+` AND t.id = $2 AND t.expired_at IS NULL FOR UPDATE`,
			staff.UserID, threadID).Scan(&from)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil || from == st {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE threads SET status = $2 WHERE id = $1`, threadID, st); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditStatusChanged, TargetType: "thread", TargetID: threadID, IP: staff.IP,
			Detail: map[string]any{"from": string(from), "to": string(st)}})
	}))
}

const auditAssigned audit.Action = "thread.assigned"

func (s *MessagingStore) Assign(ctx context.Context, staff messaging.Viewer, threadID, assigneeEmail string) error {
	return wrap("assign", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var owner, team *int64
		err := tx.QueryRow(ctx, `SELECT t.staff_id, t.team_id FROM threads t WHERE `+threadScope(staff)+` AND t.id = $2 AND t.expired_at IS NULL FOR UPDATE`,
			staff.UserID, threadID).Scan(&owner, &team)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		var to *int64
		switch {
		case assigneeEmail == "" && team == nil:
			return messaging.ErrNoTeam
		case assigneeEmail != "":
			var id int64
			err := tx.QueryRow(ctx, `SELECT id FROM users WHERE email = $1 AND role = 'staff' AND status = 'active'`, assigneeEmail).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return messaging.ErrNotStaff
			}
			if err != nil {
				return err
			}
			if team != nil {
				var member bool
				if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2)`, *team, id).Scan(&member); err != nil {
					return err
				}
				if !member {
					return messaging.ErrNotInTeam
				}
			}
			to = &id
		}
		if (owner == nil && to == nil) || (owner != nil && to != nil && *owner == *to) {
			return nil // already so
		}
		if _, err := tx.Exec(ctx, `UPDATE threads SET staff_id = $2 WHERE id = $1`, threadID, to); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditAssigned, TargetType: "thread", TargetID: threadID, IP: staff.IP,
			Detail: map[string]any{"from": owner, "to": to}})
	}))
}

func (s *MessagingStore) Provider(ctx context.Context, staff messaging.Viewer, providerID int64) (messaging.ProviderCard, error) {
	var c messaging.ProviderCard
	var status string
	var last *time.Time
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.display_name, u.email::text, u.status, u.last_login_at,
			coalesce(p.practice, ''), coalesce(p.phone, ''), coalesce(p.language, '')
		FROM users u LEFT JOIN provider_profiles p ON p.user_id = u.id
		WHERE u.id = $2 AND u.role = 'provider' AND EXISTS (SELECT 1 FROM threads t WHERE t.provider_id = u.id AND `+threadScope(staff)+`)`,
		staff.UserID, providerID).Scan(&c.ID, &c.Name, &c.Email, &status, &last, &c.Practice, &c.Phone, &c.Language)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, messaging.ErrNotFound
	}
	if last != nil {
		c.LastLoginAt = *last
	}
	c.Pending, c.Disabled = status == "pending", status == "disabled"
	return c, wrap("provider", err)
}

func (s *MessagingStore) SetStatuses(ctx context.Context, staff messaging.Viewer, threadIDs []string, st messaging.Status) (int, error) {
	changed := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE threads t SET status = $3 FROM (SELECT t.id, t.status FROM threads t
				WHERE `+threadScope(staff)+` AND t.id = ANY($2::uuid[]) AND t.expired_at IS NULL AND t.status <> $3 FOR UPDATE) old
			WHERE t.id = old.id RETURNING t.id::text, old.status`, staff.UserID, threadIDs, st)
		if err != nil {
			return err
		}
		type change struct{ id, from string }
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (change, error) {
			var c change
			return c, r.Scan(&c.id, &c.from)
		})
		if err != nil {
			return err
		}
		for _, c := range list {
			if err := AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditStatusChanged, TargetType: "thread", TargetID: c.id, IP: staff.IP,
				Detail: map[string]any{"from": c.from, "to": string(st), "bulk": true}}); err != nil {
				return err
			}
		}
		changed = len(list)
		return nil
	})
	return changed, wrap("set statuses", err)
}

func (s *MessagingStore) MarkThreadsRead(ctx context.Context, staff messaging.Viewer, threadIDs []string) (int, error) {
	changed := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT t.id::text FROM threads t WHERE `+threadScope(staff)+` AND t.id = ANY($2::uuid[]) AND t.expired_at IS NULL`,
			staff.UserID, threadIDs)
		if err != nil {
			return err
		}
		visible, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, id := range visible {
			n, err := s.markRead(ctx, tx, staff, id, nil, true)
			if err != nil {
				return err
			}
			if n > 0 {
				changed++
			}
		}
		return nil
	})
	return changed, wrap("mark threads read", err)
}

const auditThreadArchived audit.Action = "thread.archived"

func (s *MessagingStore) SetArchived(ctx context.Context, provider messaging.Viewer, threadID string, archived bool) error {
	return wrap("set archived", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE threads t SET provider_archived = $3 WHERE `+threadScope(provider)+` AND t.id = $2`, provider.UserID, threadID, archived)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return messaging.ErrNotFound
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: provider.UserID, Action: auditThreadArchived, TargetType: "thread", TargetID: threadID, IP: provider.IP,
			Detail: map[string]any{"archived": archived}})
	}))
}

func (s *MessagingStore) UnreadThreads(ctx context.Context, provider messaging.Viewer) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM threads t WHERE `+threadScope(provider)+` AND NOT t.provider_archived AND EXISTS (`+unreadMessagesSQL(provider)+`)`, provider.UserID).Scan(&n)
	return n, wrap("unread threads", err)
}
