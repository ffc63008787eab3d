package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

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
		// A conversation left with no message also loses its subject: a
		// subject alone can be PHI ("Biopsy results for J. Doe").
		var subjectKey string
		err = tx.QueryRow(ctx, `SELECT t.subject_key::text FROM threads t WHERE t.id = $1
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.recalled_at IS NULL)`, threadID).Scan(&subjectKey)
		switch {
		case err == nil:
			if err := s.keys.Shred(ctx, tx, subjectKey); err != nil {
				return err
			}
			destroyed++
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		// The reply addresses of the thread's emailed copies stop working
		// too: a recall means staff want this conversation back.
		if err := revokeReplyTokens(ctx, tx, threadID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditMessageRecalled, TargetType: "message", TargetID: messageID, IP: staff.IP,
			Detail: map[string]any{"thread_id": threadID, "keys_destroyed": destroyed}})
	})
	return threadID, wrap("recall", err)
}

// shredMessage destroys the keys of a message's body and of its
// attachments' names and bytes (crypto-shredding: without its keys the
// ciphertext is noise). It returns how many keys it destroyed, not
// counting any another transaction destroyed first.
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
	return s.keys.ShredAll(ctx, tx, keys)
}

// keyedRow is a row's id and the data key it owns: a message and its body
// key, a thread and its subject key.
type keyedRow struct{ id, key string }

// shredMessages shreds each message as shredMessage does, and returns how
// many keys it destroyed in all.
func (s *MessagingStore) shredMessages(ctx context.Context, tx pgx.Tx, msgs []keyedRow) (int, error) {
	total := 0
	for _, m := range msgs {
		n, err := s.shredMessage(ctx, tx, m.id, m.key)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (s *MessagingStore) RecallTarget(ctx context.Context, staff messaging.Viewer, messageID string) (messaging.RecallTarget, error) {
	var rt messaging.RecallTarget
	if !staff.Staff {
		return rt, messaging.ErrNotFound
	}
	err := s.pool.QueryRow(ctx, `SELECT m.thread_id::text,
			NOT EXISTS (SELECT 1 FROM messages o WHERE o.thread_id = m.thread_id AND o.id <> m.id AND o.recalled_at IS NULL),
			EXISTS (SELECT 1 FROM message_deliveries d WHERE d.message_id = m.id AND d.method = 'tls')
		FROM messages m JOIN threads t ON t.id = m.thread_id
		WHERE `+threadScope(staff)+` AND m.id = $2 AND m.sender_id = $1 AND m.recalled_at IS NULL`, staff.UserID, messageID).
		Scan(&rt.ThreadID, &rt.OnlyMessage, &rt.SentByEmail)
	if errors.Is(err, pgx.ErrNoRows) {
		return rt, messaging.ErrNotFound
	}
	return rt, wrap("recall target", err)
}
