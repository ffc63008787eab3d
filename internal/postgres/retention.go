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
// batches, each its own audited transaction taking its rows with SKIP
// LOCKED, so several instances may run it at once and an interruption
// loses nothing.
//
// Messages and threads go in separate transactions. A thread's batch must
// wait for the locks of its messages; were a message batch and a thread
// batch one transaction, two runs could each hold messages the other's
// threads need (a deadlock, seen in TestConcurrentPurgesCountEachRecordOnce).
// A message batch never waits (it skips what is locked), so a thread batch
// waits only for message batches that finish without it.
func (s *MessagingStore) PurgeExpired(ctx context.Context, retention time.Duration, now time.Time, batch int) (PurgeReport, error) {
	var total PurgeReport
	for {
		m, err := s.purgeInTx(ctx, func(tx pgx.Tx) (PurgeReport, error) { return s.purgeMessages(ctx, tx, now, batch) })
		if err != nil {
			return total, err
		}
		var t PurgeReport
		if retention > 0 {
			if t, err = s.purgeInTx(ctx, func(tx pgx.Tx) (PurgeReport, error) { return s.purgeThreads(ctx, tx, now.Add(-retention), now, batch) }); err != nil {
				return total, err
			}
		}
		total.Messages += m.Messages
		total.Threads += t.Threads
		total.Keys += m.Keys + t.Keys
		if m.Messages+t.Threads == 0 {
			return total, nil
		}
	}
}

// purgeInTx runs one batch in a transaction and audits what it destroyed
// in that transaction, so the audit log and the keys agree.
func (s *MessagingStore) purgeInTx(ctx context.Context, purge func(pgx.Tx) (PurgeReport, error)) (PurgeReport, error) {
	var r PurgeReport
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if r, err = purge(tx); err != nil || r.Messages+r.Threads == 0 {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{Action: auditRetentionPurged, TargetType: "retention",
			Detail: map[string]any{"messages": r.Messages, "threads": r.Threads, "keys_destroyed": r.Keys}})
	})
	return r, wrap("purge expired", err)
}

// collectKeyed runs sql in tx and returns the (id, key) pairs it selects.
func collectKeyed(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]keyedRow, error) {
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

// purgeMessages shreds up to batch messages past their own expiry.
func (s *MessagingStore) purgeMessages(ctx context.Context, tx pgx.Tx, now time.Time, batch int) (PurgeReport, error) {
	// The body key's row is locked with the message's. Another run may
	// have shredded the key between this statement's snapshot and its
	// lock: locking only the message (which that run does not change)
	// would then take it a second time, counted and audited twice; a
	// deleted key row is skipped.
	msgs, err := collectKeyed(ctx, tx, `SELECT m.id::text, m.body_key::text FROM messages m JOIN data_keys k ON k.id = m.body_key
		WHERE m.expires_at <= $1 AND m.recalled_at IS NULL
		LIMIT $2 FOR UPDATE OF m, k SKIP LOCKED`, now, batch)
	if err != nil {
		return PurgeReport{}, err
	}
	keys, err := s.shredMessages(ctx, tx, msgs)
	return PurgeReport{Messages: len(msgs), Keys: keys}, err
}

// purgeThreads shreds up to batch threads whose last message is older
// than idleSince: subject, every message and every note.
func (s *MessagingStore) purgeThreads(ctx context.Context, tx pgx.Tx, idleSince, now time.Time, batch int) (PurgeReport, error) {
	var r PurgeReport
	threads, err := collectKeyed(ctx, tx, `SELECT t.id::text, t.subject_key::text FROM threads t
		WHERE t.expired_at IS NULL AND t.last_message_at < $1 LIMIT $2 FOR UPDATE OF t SKIP LOCKED`, idleSince, batch)
	if err != nil {
		return r, err
	}
	for _, t := range threads {
		n, err := s.keys.ShredAll(ctx, tx, []string{t.key})
		if err != nil {
			return r, err
		}
		r.Keys += n
		// Waits for a message batch holding one of these; its keys are
		// then gone and not counted again.
		inThread, err := collectKeyed(ctx, tx, `SELECT id::text, body_key::text FROM messages
			WHERE thread_id = $1 AND recalled_at IS NULL ORDER BY id FOR UPDATE`, t.id)
		if err != nil {
			return r, err
		}
		if n, err = s.shredMessages(ctx, tx, inThread); err != nil {
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
