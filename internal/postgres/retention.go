package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

// PurgeReport says what one retention run destroyed.
type PurgeReport = messaging.PurgeReport

const auditRetentionPurged audit.Action = "retention.purged"

// PurgeExpired crypto-shreds what has expired: each message past its
// expires_at, and each thread whose last message is older than retention
// (zero: no thread retention). Only keys are destroyed; the rows (who, when,
// sizes) stay for the audit, and pages say "expired on <date>". It works in
// batches, each its own transaction with SKIP LOCKED, so several instances
// may run it at once and an interruption loses nothing.
func (s *MessagingStore) PurgeExpired(ctx context.Context, retention time.Duration, now time.Time, batch int) (PurgeReport, error) {
	var total PurgeReport
	for {
		var r PurgeReport
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var err error
			if r, err = s.purgeBatch(ctx, tx, retention, now, batch); err != nil {
				return err
			}
			if r.Messages+r.Threads == 0 {
				return nil
			}
			return AppendAudit(ctx, tx, audit.Event{Action: auditRetentionPurged, TargetType: "retention",
				Detail: map[string]any{"messages": r.Messages, "threads": r.Threads, "keys_destroyed": r.Keys}})
		})
		if err != nil {
			return total, wrap("purge expired", err)
		}
		total.Messages += r.Messages
		total.Threads += r.Threads
		total.Keys += r.Keys
		if r.Messages+r.Threads == 0 {
			return total, nil
		}
	}
}

func (s *MessagingStore) purgeBatch(ctx context.Context, tx pgx.Tx, retention time.Duration, now time.Time, batch int) (PurgeReport, error) {
	var r PurgeReport
	collect := func(sql string, args ...any) ([]keyedRow, error) {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(row pgx.CollectableRow) (keyedRow, error) {
			var k keyedRow
			err := row.Scan(&k.id, &k.key)
			return k, err
		})
	}
	msgs, err := collect(`SELECT m.id::text, m.body_key::text FROM messages m
		WHERE m.expires_at <= $1 AND m.recalled_at IS NULL AND EXISTS (SELECT 1 FROM data_keys k WHERE k.id = m.body_key)
		LIMIT $2 FOR UPDATE OF m SKIP LOCKED`, now, batch)
	if err != nil {
		return r, err
	}
	if r.Keys, err = s.shredMessages(ctx, tx, msgs); err != nil {
		return r, err
	}
	r.Messages = len(msgs)
	if retention <= 0 {
		return r, nil
	}
	threads, err := collect(`SELECT t.id::text, t.subject_key::text FROM threads t
		WHERE t.expired_at IS NULL AND t.last_message_at < $1 LIMIT $2 FOR UPDATE OF t SKIP LOCKED`, now.Add(-retention), batch)
	if err != nil {
		return r, err
	}
	for _, t := range threads {
		if err := s.keys.Shred(ctx, tx, t.key); err != nil {
			return r, err
		}
		r.Keys++
		inThread, err := collect(`SELECT id::text, body_key::text FROM messages WHERE thread_id = $1 AND recalled_at IS NULL`, t.id)
		if err != nil {
			return r, err
		}
		n, err := s.shredMessages(ctx, tx, inThread)
		if err != nil {
			return r, err
		}
		r.Keys += n
		if n, err = s.shredNotes(ctx, tx, t.id); err != nil {
			return r, err
		}
		r.Keys += n
		if _, err := tx.Exec(ctx, `UPDATE messages SET expires_at = least(coalesce(expires_at, $2), $2) WHERE thread_id = $1`, t.id, now); err != nil {
			return r, err
		}
		if _, err := tx.Exec(ctx, `UPDATE threads SET expired_at = $2 WHERE id = $1`, t.id, now); err != nil {
			return r, err
		}
		r.Threads++
	}
	return r, nil
}
