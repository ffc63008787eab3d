package postgres

import (
	"context"
	"errors"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Outgoing reads a staff message for a TLS delivery: subject, body, the
// sender's name and the attachments' names, decrypted in memory for the one
// mail being written. It is the delivery job's read, not a person's, so it
// is scoped by message id alone and leaves read receipts alone; the delivery
// record that follows is audited. A recalled or shredded message is
// messaging.ErrWithdrawn: nothing of it may leave.
func (s *MessagingStore) Outgoing(ctx context.Context, messageID string) (messaging.Outgoing, error) {
	out := messaging.Outgoing{MessageID: messageID}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var subjectKey, bodyKey string
		var subjectCT, bodyCT []byte
		var recalled bool
		err := tx.QueryRow(ctx, `
			SELECT m.thread_id::text, m.body_key::text, m.body_ct, m.created_at, m.recalled_at IS NOT NULL,
				t.subject_key::text, t.subject_ct, coalesce(nullif(u.display_name, ''), u.email::text)
			FROM messages m JOIN threads t ON t.id = m.thread_id JOIN users u ON u.id = m.sender_id
			WHERE m.id = $1`, messageID).
			Scan(&out.ThreadID, &bodyKey, &bodyCT, &out.CreatedAt, &recalled, &subjectKey, &subjectCT, &out.SenderName)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		if recalled {
			return messaging.ErrWithdrawn
		}
		owner, b := subjectSeal(out.ThreadID)
		subject, ok, err := s.decryptOrWithdrawn(ctx, tx, subjectKey, owner, b, subjectCT)
		if err != nil || !ok {
			return cmpErr(err, messaging.ErrWithdrawn)
		}
		owner, b = bodySeal(out.ThreadID, messageID)
		body, ok, err := s.decryptOrWithdrawn(ctx, tx, bodyKey, owner, b, bodyCT)
		if err != nil || !ok {
			return cmpErr(err, messaging.ErrWithdrawn)
		}
		out.Subject, out.Body = subject, body
		files, err := s.threadAttachments(ctx, tx, out.ThreadID)
		out.Attachments = files[messageID]
		return err
	})
	return out, wrap("outgoing message", err)
}

// OpenAttachmentForDelivery streams one attachment's bytes, decrypting as
// they are read, for the TLS delivery of its message.
func (s *MessagingStore) OpenAttachmentForDelivery(ctx context.Context, attachmentID string) (io.ReadCloser, error) {
	var threadID, dataKey string
	err := s.pool.QueryRow(ctx, `
		SELECT m.thread_id::text, a.data_key::text FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE a.id = $1 AND m.recalled_at IS NULL`, attachmentID).Scan(&threadID, &dataKey)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, messaging.ErrWithdrawn
	}
	if err != nil {
		return nil, wrap("open attachment for delivery", err)
	}
	owner, b := attachmentDataSeal(threadID, attachmentID)
	r, err := s.keys.OpenStream(ctx, dataKey, owner, b)
	if errors.Is(err, envelope.ErrShredded) {
		return nil, messaging.ErrWithdrawn
	}
	return r, wrap("open attachment for delivery", err)
}

// cmpErr is err when there is one, else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
