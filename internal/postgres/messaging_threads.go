package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

func (s *MessagingStore) Thread(ctx context.Context, v messaging.Viewer, threadID string) (messaging.Thread, error) {
	th, err := s.thread(ctx, v, threadID)
	return th, wrap("thread", err)
}

// thread reads the page from the pool, statement by statement, without a
// transaction: a provider's page is three round trips (thread, messages,
// files) where BEGIN and COMMIT made it five, and the read receipts it
// writes are one statement more, only when something was unread. What is
// marked read is what the page shows (markRead is given the ids): a
// message that arrives between the reads is not recorded as read.
func (s *MessagingStore) thread(ctx context.Context, v messaging.Viewer, threadID string) (messaging.Thread, error) {
	var th messaging.Thread
	var key string
	var ct []byte
	var providerID int64
	err := s.pool.QueryRow(ctx, `
		SELECT t.subject_key::text, t.subject_ct, t.provider_id, coalesce(t.expired_at, 'epoch'),
			coalesce(nullif(pu.display_name, ''), pu.email::text), pu.email::text, coalesce(su.display_name, ''), coalesce(tm.name, ''), t.status, coalesce(t.staff_id, 0), t.team_id IS NOT NULL,
			coalesce((SELECT a.ends_at FROM staff_away a WHERE a.user_id = t.staff_id AND a.starts_at <= now() AND now() < a.ends_at), 'epoch'),
			coalesce(su.status <> 'active', false), t.provider_archived
		FROM threads t JOIN users pu ON pu.id = t.provider_id
		LEFT JOIN users su ON su.id = t.staff_id LEFT JOIN teams tm ON tm.id = t.team_id
		WHERE `+threadScope(v)+` AND t.id = $2`, v.UserID, threadID).
		Scan(&key, &ct, &providerID, &th.ExpiredAt, &th.ProviderName, &th.ProviderEmail, &th.StaffName, &th.TeamName, &th.Status, &th.OwnerID, &th.HasTeam, &th.OwnerAwayUntil, &th.OwnerDisabled, &th.ProviderArchived)
	if errors.Is(err, pgx.ErrNoRows) {
		return th, messaging.ErrNotFound
	}
	if err != nil {
		return th, err
	}
	th.ID, th.ProviderID = threadID, providerID
	owner, b := subjectSeal(threadID)
	subject, ok, err := s.decryptOrWithdrawn(ctx, s.pool, key, owner, b, ct)
	if err != nil {
		return th, err
	}
	if th.ExpiredAt.Equal(time.Unix(0, 0)) {
		th.ExpiredAt = time.Time{}
	}
	if th.OwnerAwayUntil.Equal(time.Unix(0, 0)) {
		th.OwnerAwayUntil = time.Time{}
	}
	th.Subject, th.Withdrawn = subject, !ok && th.ExpiredAt.IsZero()
	var unread []string
	if th.Messages, unread, err = s.threadMessages(ctx, s.pool, v, threadID); err != nil {
		return th, err
	}
	if v.Staff {
		deliveries, err := deliveriesOf(ctx, s.pool, threadID)
		if err != nil {
			return th, err
		}
		for i := range th.Messages {
			th.Messages[i].Deliveries = deliveries[th.Messages[i].ID]
		}
		if th.Notes, err = s.threadNotes(ctx, s.pool, threadID); err != nil {
			return th, err
		}
		if th.History, err = threadHistory(ctx, s.pool, threadID); err != nil {
			return th, err
		}
	}
	if v.Emergency {
		// An admin's emergency reading is not a recipient reading: no
		// read receipts, but its own, highlighted audit record, written
		// before the page is given (no record, no page).
		return th, AppendAudit(ctx, s.pool, audit.Event{ActorID: v.UserID, Action: audit.EmergencyAccess, TargetType: "thread", TargetID: threadID, IP: v.IP,
			Detail: map[string]any{"thread_id": threadID, "use": "read"}})
	}
	if len(unread) > 0 {
		_, err = s.markRead(ctx, s.pool, v, threadID, unread, false)
	}
	return th, err
}

// threadMessages returns the thread's messages as v sees them, and the ids
// of those v has not read yet (others', not recalled, no receipt of v's).
func (s *MessagingStore) threadMessages(ctx context.Context, q Querier, v messaging.Viewer, threadID string) ([]messaging.Message, []string, error) {
	// ReadAt is the other side's first opening: the provider's (or a
	// member's of their practice) for staff messages, any
	// representative's for the provider side's.
	rows, err := q.Query(ctx, `
		SELECT m.id::text, m.sender_id, coalesce(nullif(u.display_name, ''), u.email::text), m.body_key::text, m.body_ct,
			m.created_at, m.recalled_at IS NOT NULL, coalesce(m.expires_at, 'epoch'),
			coalesce((SELECT min(r.read_at) FROM message_reads r JOIN users ru ON ru.id = r.user_id
				WHERE r.message_id = m.id AND (ru.role = 'provider') <> (u.role = 'provider')), 'epoch'),
			u.role = 'provider',
			m.sender_id <> $2 AND m.recalled_at IS NULL AND NOT EXISTS (SELECT 1 FROM message_reads mine WHERE mine.message_id = m.id AND mine.user_id = $2),
			`+keyColumns+`
		FROM messages m JOIN users u ON u.id = m.sender_id
		LEFT JOIN data_keys dk ON dk.id = m.body_key
		WHERE m.thread_id = $1 ORDER BY m.created_at, m.id`, threadID, v.UserID)
	if err != nil {
		return nil, nil, err
	}
	type row struct {
		msg          messaging.Message
		sender       int64
		fromProvider bool
		unread       bool
		keyID        string
		ct           []byte
		expiry       time.Time
		key          joinedKey // the body's data key, joined
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(append([]any{&r.msg.ID, &r.sender, &r.msg.SenderName, &r.keyID, &r.ct, &r.msg.CreatedAt, &r.msg.Withdrawn, &r.expiry, &r.msg.ReadAt, &r.fromProvider, &r.unread},
			r.key.dest()...)...); err != nil {
			rows.Close()
			return nil, nil, err
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	epoch := time.Unix(0, 0)
	var sealed []SealedRecord
	var keys []joinedKey
	for _, r := range list {
		if !r.msg.Withdrawn {
			owner, b := bodySeal(threadID, r.msg.ID)
			sealed = append(sealed, SealedRecord{DataKeyID: r.keyID, Owner: owner, Binding: b, CT: r.ct})
			keys = append(keys, r.key)
		}
	}
	bodies, err := s.keys.openJoined(sealed, keys)
	if err != nil {
		return nil, nil, err
	}
	attachments, err := s.threadAttachments(ctx, q, threadID)
	if err != nil {
		return nil, nil, err
	}
	out := make([]messaging.Message, 0, len(list))
	var unread []string
	for _, r := range list {
		if r.unread {
			unread = append(unread, r.msg.ID)
		}
		m := r.msg
		m.FromViewer = r.sender == v.UserID
		m.FromProvider = r.fromProvider
		if m.ReadAt.Equal(epoch) {
			m.ReadAt = time.Time{}
		}
		if !m.Withdrawn {
			body := bodies[0]
			bodies = bodies[1:]
			if body == nil {
				if r.expiry.After(epoch) {
					m.ExpiredAt = r.expiry
				} else {
					m.Withdrawn = true
				}
			}
			m.Body = string(body)
		}
		if !m.Withdrawn && m.ExpiredAt.IsZero() {
			m.Attachments = attachments[m.ID]
		}
		out = append(out, m)
	}
	return out, unread, nil
}

// markRead records v's first reading of messages of the thread not
// theirs (those of ids; every one when ids is nil), each receipt with its
// audit record (HIPAA: who saw this message, when) in the same statement,
// and returns how many were unread. fromList says they were marked read
// from a list, not opened (the audit record tells which).
func (s *MessagingStore) markRead(ctx context.Context, q Querier, v messaging.Viewer, threadID string, ids []string, fromList bool) (int, error) {
	detail := map[string]any{"thread_id": threadID}
	if fromList {
		detail["marked_from_list"] = true
	}
	args, err := auditArgs(audit.Event{ActorID: v.UserID, Action: auditMessageRead, TargetType: "message", IP: v.IP, Detail: detail})
	if err != nil {
		return 0, err
	}
	// audit_append's arguments, with the target (each new receipt's
	// message) taken from the insert. The messages are locked (FOR SHARE,
	// in id order) before the audit chain's lock, which the ORDER BY makes
	// come after the whole insert: a recall locks its message and then the
	// audit chain, and the trigger counting these receipts
	// (migrations/0026_thread_readers.sql) must see the messages as they
	// will be committed.
	rows, err := q.Query(ctx, `
		WITH receipts AS (
			INSERT INTO message_reads (message_id, user_id)
			SELECT m.id, $2 FROM messages m
			WHERE m.thread_id = $1 AND m.sender_id <> $2 AND m.recalled_at IS NULL AND ($3::uuid[] IS NULL OR m.id = ANY($3::uuid[]))
			ORDER BY m.id FOR SHARE OF m
			ON CONFLICT DO NOTHING RETURNING message_id)
		SELECT audit_append($4, $5, $6, message_id::text, $7, $8) FROM receipts ORDER BY message_id`,
		threadID, v.UserID, ids, args[0], args[1], args[2], args[4], args[5])
	if err != nil {
		return 0, err
	}
	appended, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	return len(appended), err
}

// threadHistory is the thread's owner and status changes by hand, from
// the audit log (where they are recorded anyway), oldest first.
func threadHistory(ctx context.Context, q Querier, threadID string) ([]messaging.ThreadEvent, error) {
	rows, err := q.Query(ctx, `SELECT e.at, e.action = '`+string(auditAssigned)+`', coalesce(nullif(a.display_name, ''), a.email::text, ''),
			coalesce(nullif(o.display_name, ''), o.email::text, ''), coalesce(o.id = e.actor_id, false), coalesce(e.detail->>'to', '')
		FROM audit_events e
		LEFT JOIN users a ON a.id = e.actor_id
		LEFT JOIN users o ON o.id = CASE WHEN e.action = '`+string(auditAssigned)+`' THEN (e.detail->>'to')::bigint END
		WHERE e.target_type = 'thread' AND e.target_id = $1 AND e.action IN ('`+string(auditAssigned)+`', '`+string(auditStatusChanged)+`')
		ORDER BY e.at, e.id`, threadID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (messaging.ThreadEvent, error) {
		var ev messaging.ThreadEvent
		var to string
		err := r.Scan(&ev.At, &ev.Assigned, &ev.Actor, &ev.ToOwner, &ev.Took, &to)
		if !ev.Assigned {
			ev.Status = messaging.Status(to)
		}
		return ev, err
	})
}
