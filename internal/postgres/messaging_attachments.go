package postgres

import (
	"context"
	"errors"
	"io"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

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
		dataKey, size, err := s.keys.WriteStream(ctx, tx, dataOwner, dataBinding, messaging.RefusePrograms(up.Body), s.limits.MaxFileBytes)
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

// threadAttachments returns the readable attachments of a thread's messages,
// by message id, with one query for the rows and one for their name keys.
// Attachments whose keys were destroyed (recall, retention) are left out.
func (s *MessagingStore) threadAttachments(ctx context.Context, q Querier, threadID string) (map[string][]messaging.Attachment, error) {
	rows, err := q.Query(ctx, `SELECT a.message_id::text, a.id::text, a.name_key::text, a.name_ct, a.content_type, a.size
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
	names, err := s.keys.OpenRecords(ctx, q, sealed)
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
