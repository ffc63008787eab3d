package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Audit actions of messaging.
const (
	auditMessageSent       audit.Action = "message.sent"
	auditMessageRead       audit.Action = "message.read"
	auditMessageDownloaded audit.Action = "message.downloaded"
	auditMessageRecalled   audit.Action = "message.recalled"
)

// MessagingLimits bound what one message may carry.
type MessagingLimits struct {
	MaxFileBytes int64
	MaxFiles     int
}

// MessagingStore implements messaging.Store over PostgreSQL and the envelope
// store: plaintext exists only in memory, on its way in or out.
type MessagingStore struct {
	pool   *pgxpool.Pool
	keys   *DataKeys
	jobs   JobInserter
	limits MessagingLimits
}

// NewMessagingStore returns the store.
func NewMessagingStore(pool *pgxpool.Pool, keys *DataKeys, jobs JobInserter, limits MessagingLimits) *MessagingStore {
	return &MessagingStore{pool: pool, keys: keys, jobs: jobs, limits: limits}
}

var _ messaging.Store = (*MessagingStore)(nil)

// Where each ciphertext lives. Bindings and owners use only immutable ids,
// so a ciphertext or key copied to another row fails to open.
func subjectSeal(threadID string) (Owner, envelope.Binding) {
	return Owner{Kind: "thread-subject", ID: threadID, ThreadID: threadID},
		envelope.Binding{Purpose: "thread-subject", Table: "threads", Column: "subject_ct", RowID: threadID, ThreadID: threadID}
}

func bodySeal(threadID, messageID string) (Owner, envelope.Binding) {
	return Owner{Kind: "message-body", ID: messageID, ThreadID: threadID},
		envelope.Binding{Purpose: "message-body", Table: "messages", Column: "body_ct", RowID: messageID, ThreadID: threadID}
}

func attachmentNameSeal(threadID, attachmentID string) (Owner, envelope.Binding) {
	return Owner{Kind: "attachment-name", ID: attachmentID, ThreadID: threadID},
		envelope.Binding{Purpose: "attachment-name", Table: "attachments", Column: "name_ct", RowID: attachmentID, ThreadID: threadID}
}

func attachmentDataSeal(threadID, attachmentID string) (Owner, envelope.Binding) {
	return Owner{Kind: "attachment-data", ID: attachmentID, ThreadID: threadID},
		envelope.Binding{Purpose: "attachment-data", Table: "data_chunks", Column: "ct", RowID: attachmentID, ThreadID: threadID}
}

// threadScope is the SQL condition that limits threads (alias t) to those
// the viewer ($1) may see: a provider their own, staff their own and their
// teams'. Every messaging query goes through it.
func threadScope(v messaging.Viewer) string {
	if v.Emergency {
		return `EXISTS (SELECT 1 FROM emergency_access e WHERE e.thread_id = t.id AND e.admin_id = $1 AND e.expires_at > now())`
	}
	if v.Staff {
		return `(t.staff_id = $1 OR t.team_id IN (SELECT team_id FROM team_members WHERE user_id = $1))`
	}
	return `t.provider_id = $1`
}

func (s *MessagingStore) StartThreadToProvider(ctx context.Context, staff messaging.Viewer, email, subject string, m messaging.NewMessage) (string, error) {
	var threadID string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		providerID, created, err := ensureProvider(ctx, tx, email)
		if err != nil {
			return err
		}
		if created {
			if err := AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: audit.UserCreated, TargetType: "user",
				TargetID: fmt.Sprint(providerID), IP: staff.IP, Detail: map[string]any{"role": "provider", "reason": "first_secure_message"}}); err != nil {
				return err
			}
		}
		teamID, err := onlyTeamOf(ctx, tx, staff.UserID)
		if err != nil {
			return err
		}
		threadID, err = s.insertThread(ctx, tx, providerID, &staff.UserID, teamID, staff.UserID, subject)
		if err != nil {
			return err
		}
		_, err = s.insertMessage(ctx, tx, staff, threadID, m, []int64{providerID})
		return err
	})
	return threadID, wrap("start thread", err)
}

func (s *MessagingStore) StartThreadFromProvider(ctx context.Context, provider messaging.Viewer, key, subject string, m messaging.NewMessage) (string, error) {
	var threadID string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var staffID, teamID *int64
		kind, idText, _ := strings.Cut(key, ":")
		id, err := strconv.ParseInt(idText, 10, 64)
		if err != nil {
			return messaging.ErrRecipientUnset
		}
		switch kind {
		case "staff":
			// Only a representative this provider already corresponds with.
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM threads t JOIN users u ON u.id = t.staff_id
				WHERE t.provider_id = $1 AND t.staff_id = $2 AND u.status = 'active')`, provider.UserID, id).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return messaging.ErrRecipientUnset
			}
			staffID = &id
			if teamID, err = onlyTeamOf(ctx, tx, id); err != nil {
				return err
			}
		case "team":
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)`, id).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return messaging.ErrRecipientUnset
			}
			teamID = &id
		default:
			return messaging.ErrRecipientUnset
		}
		threadID, err = s.insertThread(ctx, tx, provider.UserID, staffID, teamID, provider.UserID, subject)
		if err != nil {
			return err
		}
		recipients, err := staffRecipients(ctx, tx, staffID, teamID)
		if err != nil {
			return err
		}
		_, err = s.insertMessage(ctx, tx, provider, threadID, m, recipients)
		return err
	})
	return threadID, wrap("start thread", err)
}

func (s *MessagingStore) Reply(ctx context.Context, v messaging.Viewer, threadID string, m messaging.NewMessage) error {
	if v.Emergency {
		return messaging.ErrNotFound // emergency access is read-only
	}
	return wrap("reply", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var providerID int64
		var staffID, teamID *int64
		var subjectKey string
		err := tx.QueryRow(ctx, `SELECT t.provider_id, t.staff_id, t.team_id, t.subject_key::text FROM threads t
			WHERE `+threadScope(v)+` AND t.id = $2 FOR UPDATE`, v.UserID, threadID).Scan(&providerID, &staffID, &teamID, &subjectKey)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		gone, err := keyGone(ctx, tx, subjectKey)
		if err != nil {
			return err
		}
		if gone {
			return messaging.ErrWithdrawn
		}
		recipients := []int64{providerID}
		if !v.Staff {
			if recipients, err = staffRecipients(ctx, tx, staffID, teamID); err != nil {
				return err
			}
		}
		_, err = s.insertMessage(ctx, tx, v, threadID, m, recipients)
		return err
	}))
}

func keyGone(ctx context.Context, q Querier, dataKeyID string) (bool, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM data_keys WHERE id = $1)`, dataKeyID).Scan(&exists)
	return !exists, err
}

// ensureProvider finds the provider account for email or creates a pending
// one (their registration link comes with the notification).
func ensureProvider(ctx context.Context, tx pgx.Tx, email string) (id int64, created bool, err error) {
	err = tx.QueryRow(ctx, `INSERT INTO users (email, role, status) VALUES ($1, 'provider', 'pending')
		ON CONFLICT (email) DO NOTHING RETURNING id`, email).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	var role, status string
	if err := tx.QueryRow(ctx, `SELECT id, role, status FROM users WHERE email = $1`, email).Scan(&id, &role, &status); err != nil {
		return 0, false, err
	}
	if role != "provider" {
		return 0, false, messaging.ErrNotAProvider
	}
	if status == "disabled" {
		return 0, false, messaging.ErrProviderOff
	}
	return id, false, nil
}

// onlyTeamOf returns the team of a representative who belongs to exactly
// one, so their threads are shared with it; nil otherwise.
func onlyTeamOf(ctx context.Context, tx pgx.Tx, userID int64) (*int64, error) {
	rows, err := tx.Query(ctx, `SELECT team_id FROM team_members WHERE user_id = $1 LIMIT 2`, userID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != 1 {
		return nil, err
	}
	return &ids[0], nil
}

// staffRecipients are the representatives a provider's message notifies:
// the thread's owner, or every active member of its team.
func staffRecipients(ctx context.Context, tx pgx.Tx, staffID, teamID *int64) ([]int64, error) {
	if staffID != nil {
		return []int64{*staffID}, nil
	}
	rows, err := tx.Query(ctx, `SELECT u.id FROM team_members m JOIN users u ON u.id = m.user_id
		WHERE m.team_id = $1 AND u.status = 'active' ORDER BY u.id`, *teamID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

func (s *MessagingStore) insertThread(ctx context.Context, tx pgx.Tx, providerID int64, staffID, teamID *int64, senderID int64, subject string) (string, error) {
	id, err := newUUID()
	if err != nil {
		return "", err
	}
	owner, b := subjectSeal(id)
	keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, []byte(subject))
	if err != nil {
		return "", err
	}
	_, err = tx.Exec(ctx, `INSERT INTO threads (id, provider_id, staff_id, team_id, subject_key, subject_ct, last_sender_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, id, providerID, staffID, teamID, keyID, ct, senderID)
	return id, err
}

// insertMessage stores a message and its attachments (each streamed through
// the envelope store as it arrives), bumps the thread, audits the send and
// queues one notification per recipient, all in tx: a message and its files
// land together or not at all, and never without their notifications.
func (s *MessagingStore) insertMessage(ctx context.Context, tx pgx.Tx, sender messaging.Viewer, threadID string, m messaging.NewMessage, recipients []int64) (string, error) {
	id, err := newUUID()
	if err != nil {
		return "", err
	}
	owner, b := bodySeal(threadID, id)
	keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, []byte(m.Body))
	if err != nil {
		return "", err
	}
	var expires *time.Time
	if !m.ExpiresAt.IsZero() {
		expires = &m.ExpiresAt
	}
	if _, err := tx.Exec(ctx, `INSERT INTO messages (id, thread_id, sender_id, body_key, body_ct, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, threadID, sender.UserID, keyID, ct, expires); err != nil {
		return "", err
	}
	files, bytes, err := s.insertAttachments(ctx, tx, threadID, id, m.Files)
	if err != nil {
		return "", err
	}
	if _, err := tx.Exec(ctx, `UPDATE threads SET last_message_at = now(), last_sender_id = $2 WHERE id = $1`, threadID, sender.UserID); err != nil {
		return "", err
	}
	if err := AppendAudit(ctx, tx, audit.Event{ActorID: sender.UserID, Action: auditMessageSent, TargetType: "message", TargetID: id, IP: sender.IP,
		Detail: map[string]any{"thread_id": threadID, "attachments": files, "attachment_bytes": bytes, "recipients": recipients}}); err != nil {
		return "", err
	}
	for _, r := range recipients {
		if _, err := s.jobs.InsertTx(ctx, tx, messaging.NotifyMessage{MessageID: id, RecipientID: r}, nil); err != nil {
			return "", fmt.Errorf("enqueue notification: %w", err)
		}
	}
	return id, nil
}

func (s *MessagingStore) insertAttachments(ctx context.Context, tx pgx.Tx, threadID, messageID string, files messaging.Uploads) (count int, total int64, err error) {
	if files == nil {
		return 0, 0, nil
	}
	for {
		up, err := files.Next()
		if errors.Is(err, io.EOF) {
			return count, total, nil
		}
		if err != nil {
			return 0, 0, err
		}
		if count == s.limits.MaxFiles {
			return 0, 0, messaging.ErrTooManyFiles
		}
		name := messaging.CleanFilename(up.Name)
		ctype, err := messaging.CheckFile(name)
		if err != nil {
			return 0, 0, err
		}
		id, err := newUUID()
		if err != nil {
			return 0, 0, err
		}
		nameOwner, nameBinding := attachmentNameSeal(threadID, id)
		nameKey, nameCT, err := s.keys.SealRecord(ctx, tx, nameOwner, nameBinding, []byte(name))
		if err != nil {
			return 0, 0, err
		}
		dataOwner, dataBinding := attachmentDataSeal(threadID, id)
		dataKey, size, err := s.keys.WriteStream(ctx, tx, dataOwner, dataBinding, up.Body, s.limits.MaxFileBytes)
		if errors.Is(err, ErrTooLarge) {
			return 0, 0, messaging.ErrTooLarge
		}
		if err != nil {
			return 0, 0, err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO attachments (id, message_id, name_key, name_ct, data_key, content_type, size, position)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, id, messageID, nameKey, nameCT, dataKey, ctype, size, count); err != nil {
			return 0, 0, err
		}
		count++
		total += size
	}
}

// decryptOrWithdrawn opens a record; a destroyed key means withdrawn (or
// expired), reported as ok=false rather than an error.
func (s *MessagingStore) decryptOrWithdrawn(ctx context.Context, q Querier, keyID string, owner Owner, b envelope.Binding, ct []byte) (string, bool, error) {
	pt, err := s.keys.OpenRecord(ctx, q, keyID, owner, b, ct)
	if errors.Is(err, envelope.ErrShredded) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(pt), true, nil
}

func (s *MessagingStore) Inbox(ctx context.Context, v messaging.Viewer, p messaging.Page) ([]messaging.ThreadSummary, string, error) {
	if p.Limit <= 0 {
		p.Limit = 25
	}
	where := []string{threadScope(v)}
	args := []any{v.UserID}
	if at, id, ok := parseCursor(p.Before); ok {
		args = append(args, at, id)
		where = append(where, `(t.last_message_at, t.id) < ($2, $3)`)
	}
	switch p.Filter {
	case messaging.FilterUnread:
		where = append(where, `EXISTS (`+unreadMessagesSQL+`)`)
	case messaging.FilterAwaiting:
		where = append(where, `t.last_sender_id = t.provider_id`)
	}
	args = append(args, p.Limit+1)
	rows, err := s.pool.Query(ctx, `
		SELECT t.id::text, t.subject_key::text, t.subject_ct, t.last_message_at,
			t.last_sender_id = t.provider_id, t.expired_at IS NOT NULL,
			coalesce(nullif(pu.display_name, ''), pu.email::text), pu.email::text,
			coalesce(su.display_name, ''), coalesce(tm.name, ''),
			(SELECT count(*) FROM (`+unreadMessagesSQL+`) u)
		FROM threads t
		JOIN users pu ON pu.id = t.provider_id
		LEFT JOIN users su ON su.id = t.staff_id
		LEFT JOIN teams tm ON tm.id = t.team_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY t.last_message_at DESC, t.id DESC
		LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, "", wrap("inbox", err)
	}
	type row struct {
		id, key                string
		ct                     []byte
		at                     time.Time
		awaiting, expired      bool
		provider, email, staff string
		team                   string
		unread                 int
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.key, &r.ct, &r.at, &r.awaiting, &r.expired, &r.provider, &r.email, &r.staff, &r.team, &r.unread); err != nil {
			rows.Close()
			return nil, "", wrap("inbox", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("inbox", err)
	}
	next := ""
	if len(list) > p.Limit {
		list = list[:p.Limit]
		last := list[len(list)-1]
		next = formatCursor(last.at, last.id)
	}
	sealed := make([]SealedRecord, len(list))
	for i, r := range list {
		owner, b := subjectSeal(r.id)
		sealed[i] = SealedRecord{DataKeyID: r.key, Owner: owner, Binding: b, CT: r.ct}
	}
	subjects, err := s.keys.OpenRecords(ctx, s.pool, sealed)
	if err != nil {
		return nil, "", wrap("inbox", err)
	}
	out := make([]messaging.ThreadSummary, 0, len(list))
	for i, r := range list {
		ok := subjects[i] != nil
		ts := messaging.ThreadSummary{ID: r.id, Subject: string(subjects[i]), Withdrawn: !ok && !r.expired, Expired: r.expired, LastMessageAt: r.at, Unread: r.unread,
			AwaitingReply: r.awaiting, ProviderEmail: r.email, TeamName: r.team}
		switch {
		case v.Staff:
			ts.Counterpart = r.provider
		case r.staff != "":
			ts.Counterpart = r.staff
		default:
			ts.Counterpart = r.team
		}
		out = append(out, ts)
	}
	return out, next, nil
}

// unreadMessagesSQL selects the messages of thread t that viewer $1 has not
// opened, sent by someone else and not withdrawn.
const unreadMessagesSQL = `SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.sender_id <> $1 AND m.recalled_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = $1)`

// Cursors are "<unix microseconds>_<thread id>": opaque to users, stable,
// and exact (timestamps are microsecond precision in PostgreSQL).
func formatCursor(at time.Time, id string) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "_" + id
}

func parseCursor(c string) (time.Time, string, bool) {
	micros, id, ok := strings.Cut(c, "_")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || !messaging.ValidID(id) {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n), id, true
}

func (s *MessagingStore) Thread(ctx context.Context, v messaging.Viewer, threadID string) (messaging.Thread, error) {
	var th messaging.Thread
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var key string
		var ct []byte
		var providerID int64
		err := tx.QueryRow(ctx, `
			SELECT t.subject_key::text, t.subject_ct, t.provider_id, coalesce(t.expired_at, 'epoch'),
				coalesce(nullif(pu.display_name, ''), pu.email::text), pu.email::text, coalesce(su.display_name, ''), coalesce(tm.name, '')
			FROM threads t JOIN users pu ON pu.id = t.provider_id
			LEFT JOIN users su ON su.id = t.staff_id LEFT JOIN teams tm ON tm.id = t.team_id
			WHERE `+threadScope(v)+` AND t.id = $2`, v.UserID, threadID).
			Scan(&key, &ct, &providerID, &th.ExpiredAt, &th.ProviderName, &th.ProviderEmail, &th.StaffName, &th.TeamName)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		th.ID = threadID
		owner, b := subjectSeal(threadID)
		subject, ok, err := s.decryptOrWithdrawn(ctx, tx, key, owner, b, ct)
		if err != nil {
			return err
		}
		if th.ExpiredAt.Equal(time.Unix(0, 0)) {
			th.ExpiredAt = time.Time{}
		}
		th.Subject, th.Withdrawn = subject, !ok && th.ExpiredAt.IsZero()
		if th.Messages, err = s.threadMessages(ctx, tx, v, threadID, providerID); err != nil {
			return err
		}
		if v.Emergency {
			// An admin's emergency reading is not a recipient reading:
			// no read receipts, but its own, highlighted audit record.
			return AppendAudit(ctx, tx, audit.Event{ActorID: v.UserID, Action: audit.EmergencyAccess, TargetType: "thread", TargetID: threadID, IP: v.IP,
				Detail: map[string]any{"thread_id": threadID, "use": "read"}})
		}
		return s.markRead(ctx, tx, v, threadID)
	})
	return th, wrap("thread", err)
}

func (s *MessagingStore) threadMessages(ctx context.Context, tx pgx.Tx, v messaging.Viewer, threadID string, providerID int64) ([]messaging.Message, error) {
	// ReadAt is the other side's first opening: the provider's for staff
	// messages, any representative's for the provider's messages.
	rows, err := tx.Query(ctx, `
		SELECT m.id::text, m.sender_id, coalesce(nullif(u.display_name, ''), u.email::text), m.body_key::text, m.body_ct,
			m.created_at, m.recalled_at IS NOT NULL, coalesce(m.expires_at, 'epoch'),
			coalesce((SELECT min(r.read_at) FROM message_reads r WHERE r.message_id = m.id AND
				CASE WHEN m.sender_id = $2 THEN r.user_id <> $2 ELSE r.user_id = $2 END), 'epoch')
		FROM messages m JOIN users u ON u.id = m.sender_id
		WHERE m.thread_id = $1 ORDER BY m.created_at, m.id`, threadID, providerID)
	if err != nil {
		return nil, err
	}
	type row struct {
		msg    messaging.Message
		sender int64
		key    string
		ct     []byte
		expiry time.Time
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.msg.ID, &r.sender, &r.msg.SenderName, &r.key, &r.ct, &r.msg.CreatedAt, &r.msg.Withdrawn, &r.expiry, &r.msg.ReadAt); err != nil {
			rows.Close()
			return nil, err
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	epoch := time.Unix(0, 0)
	var sealed []SealedRecord
	for _, r := range list {
		if !r.msg.Withdrawn {
			owner, b := bodySeal(threadID, r.msg.ID)
			sealed = append(sealed, SealedRecord{DataKeyID: r.key, Owner: owner, Binding: b, CT: r.ct})
		}
	}
	bodies, err := s.keys.OpenRecords(ctx, tx, sealed)
	if err != nil {
		return nil, err
	}
	attachments, err := s.threadAttachments(ctx, tx, threadID)
	if err != nil {
		return nil, err
	}
	out := make([]messaging.Message, 0, len(list))
	for _, r := range list {
		m := r.msg
		m.FromViewer = r.sender == v.UserID
		m.FromProvider = r.sender == providerID
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
	return out, nil
}

// threadAttachments returns the readable attachments of a thread's messages,
// by message id, with one query for the rows and one for their name keys.
// Attachments whose keys were destroyed (recall, retention) are left out.
func (s *MessagingStore) threadAttachments(ctx context.Context, tx pgx.Tx, threadID string) (map[string][]messaging.Attachment, error) {
	rows, err := tx.Query(ctx, `SELECT a.message_id::text, a.id::text, a.name_key::text, a.name_ct, a.content_type, a.size
		FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE m.thread_id = $1 ORDER BY a.message_id, a.position`, threadID)
	if err != nil {
		return nil, err
	}
	type row struct {
		messageID string
		a         messaging.Attachment
	}
	var list []row
	var sealed []SealedRecord
	for rows.Next() {
		var r row
		var rec SealedRecord
		if err := rows.Scan(&r.messageID, &r.a.ID, &rec.DataKeyID, &rec.CT, &r.a.ContentType, &r.a.Size); err != nil {
			rows.Close()
			return nil, err
		}
		rec.Owner, rec.Binding = attachmentNameSeal(threadID, r.a.ID)
		list = append(list, r)
		sealed = append(sealed, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	names, err := s.keys.OpenRecords(ctx, tx, sealed)
	if err != nil {
		return nil, err
	}
	out := map[string][]messaging.Attachment{}
	for i, r := range list {
		if names[i] == nil {
			continue
		}
		r.a.Name = string(names[i])
		out[r.messageID] = append(out[r.messageID], r.a)
	}
	return out, nil
}

// markRead records that v opened the thread's messages from others, and
// audits each first opening (HIPAA: who saw this message, when).
func (s *MessagingStore) markRead(ctx context.Context, tx pgx.Tx, v messaging.Viewer, threadID string) error {
	rows, err := tx.Query(ctx, `INSERT INTO message_reads (message_id, user_id)
		SELECT m.id, $2 FROM messages m WHERE m.thread_id = $1 AND m.sender_id <> $2 AND m.recalled_at IS NULL
		ON CONFLICT DO NOTHING RETURNING message_id::text`, threadID, v.UserID)
	if err != nil {
		return err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := AppendAudit(ctx, tx, audit.Event{ActorID: v.UserID, Action: auditMessageRead, TargetType: "message", TargetID: id, IP: v.IP,
			Detail: map[string]any{"thread_id": threadID}}); err != nil {
			return err
		}
	}
	return nil
}

func (s *MessagingStore) OpenAttachment(ctx context.Context, v messaging.Viewer, attachmentID string) (messaging.Attachment, io.ReadCloser, error) {
	var a messaging.Attachment
	var threadID, nameKey, dataKey string
	var nameCT []byte
	var recalled bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `
			SELECT a.id::text, a.name_key::text, a.name_ct, a.data_key::text, a.content_type, a.size, t.id::text, m.recalled_at IS NOT NULL
			FROM attachments a JOIN messages m ON m.id = a.message_id JOIN threads t ON t.id = m.thread_id
			WHERE `+threadScope(v)+` AND a.id = $2`, v.UserID, attachmentID).
			Scan(&a.ID, &nameKey, &nameCT, &dataKey, &a.ContentType, &a.Size, &threadID, &recalled)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		if recalled {
			return messaging.ErrWithdrawn
		}
		owner, b := attachmentNameSeal(threadID, a.ID)
		name, ok, err := s.decryptOrWithdrawn(ctx, tx, nameKey, owner, b, nameCT)
		if err != nil {
			return err
		}
		if !ok {
			return messaging.ErrWithdrawn
		}
		a.Name = name
		return AppendAudit(ctx, tx, audit.Event{ActorID: v.UserID, Action: auditMessageDownloaded, TargetType: "attachment", TargetID: a.ID, IP: v.IP,
			Detail: map[string]any{"thread_id": threadID, "size": a.Size}})
	})
	if err != nil {
		return a, nil, wrap("open attachment", err)
	}
	owner, b := attachmentDataSeal(threadID, a.ID)
	r, err := s.keys.OpenStream(ctx, dataKey, owner, b)
	if errors.Is(err, envelope.ErrShredded) {
		return a, nil, messaging.ErrWithdrawn
	}
	return a, r, wrap("open attachment", err)
}

func (s *MessagingStore) Recall(ctx context.Context, staff messaging.Viewer, messageID string) (string, error) {
	if !staff.Staff {
		return "", messaging.ErrNotFound
	}
	var threadID string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var bodyKey string
		var recalled bool
		err := tx.QueryRow(ctx, `SELECT m.thread_id::text, m.body_key::text, m.recalled_at IS NOT NULL
			FROM messages m JOIN threads t ON t.id = m.thread_id
			WHERE `+threadScope(staff)+` AND m.id = $2 AND m.sender_id = $1 FOR UPDATE OF m`, staff.UserID, messageID).
			Scan(&threadID, &bodyKey, &recalled)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil || recalled {
			return err
		}
		destroyed, err := s.shredMessage(ctx, tx, messageID, bodyKey)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE messages SET recalled_at = now() WHERE id = $1`, messageID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditMessageRecalled, TargetType: "message", TargetID: messageID, IP: staff.IP,
			Detail: map[string]any{"thread_id": threadID, "keys_destroyed": destroyed}})
	})
	return threadID, wrap("recall", err)
}

func (s *MessagingStore) Recipients(ctx context.Context, provider messaging.Viewer) ([]messaging.Recipient, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT 'staff:' || u.id, coalesce(nullif(u.display_name, ''), u.email::text), 'Representative you already correspond with'
		FROM users u WHERE u.status = 'active' AND u.id IN (SELECT staff_id FROM threads WHERE provider_id = $1)
		UNION ALL
		SELECT * FROM (SELECT 'team:' || id, name, coalesce(nullif(line_of_business, ''), 'Team') FROM teams ORDER BY name) teams`,
		provider.UserID)
	if err != nil {
		return nil, wrap("recipients", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (messaging.Recipient, error) {
		var rc messaging.Recipient
		err := r.Scan(&rc.Key, &rc.Name, &rc.Description)
		return rc, err
	})
	return list, wrap("recipients", err)
}

// shredMessage destroys the keys of a message's body and of its
// attachments' names and bytes (crypto-shredding: without its keys the
// ciphertext is noise). It returns how many keys it destroyed.
func (s *MessagingStore) shredMessage(ctx context.Context, tx pgx.Tx, messageID, bodyKey string) (int, error) {
	keys := []string{bodyKey}
	rows, err := tx.Query(ctx, `SELECT name_key::text, data_key::text FROM attachments WHERE message_id = $1`, messageID)
	if err != nil {
		return 0, err
	}
	for rows.Next() {
		var n, d string
		if err := rows.Scan(&n, &d); err != nil {
			rows.Close()
			return 0, err
		}
		keys = append(keys, n, d)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, k := range keys {
		if err := s.keys.Shred(ctx, tx, k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}
