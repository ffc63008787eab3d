package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

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
		staffID, teamID, err := providerRecipient(ctx, tx, provider.UserID, key)
		if err != nil {
			return err
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
		live, err := dataKeyExists(ctx, tx, subjectKey)
		if err != nil {
			return err
		}
		if !live {
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
	// A staff message leaves the thread waiting on the provider and brings
	// it back to the provider's inbox if they had archived it; the
	// provider's reopens it, even when it was done. A practice member
	// answers for the practice: the thread's last sender is then its
	// provider (the mailbox), which is what "awaiting reply" asks.
	if _, err := tx.Exec(ctx, `UPDATE threads SET last_message_at = now(), last_sender_id = CASE WHEN $3 THEN $2 ELSE provider_id END,
		status = CASE WHEN $3 THEN 'waiting' ELSE 'open' END,
		provider_archived = provider_archived AND NOT $3 WHERE id = $1`, threadID, sender.UserID, sender.Staff); err != nil {
		return "", err
	}
	for _, r := range recipients {
		if _, err := s.jobs.InsertTx(ctx, tx, messaging.NotifyMessage{MessageID: id, RecipientID: r}, nil); err != nil {
			return "", fmt.Errorf("enqueue notification: %w", err)
		}
	}
	// Last: the audit append takes the chain's lock until commit, and a
	// reply to a team enqueues a notification per member.
	if err := AppendAudit(ctx, tx, audit.Event{ActorID: sender.UserID, Action: auditMessageSent, TargetType: "message", TargetID: id, IP: sender.IP,
		Detail: map[string]any{"thread_id": threadID, "attachments": files, "attachment_bytes": bytes, "recipients": recipients}}); err != nil {
		return "", err
	}
	return id, nil
}
