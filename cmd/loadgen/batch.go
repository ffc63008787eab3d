package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// table is one destination of seeded rows. The list is in foreign-key
// order: a batch is copied table by table, in this order, in one
// transaction.
type table struct {
	name    string
	columns []string
}

const (
	dataKeys = iota
	dataChunks
	threads
	messages
	messageReads
	attachments
	tableCount
)

var tables = [tableCount]table{
	dataKeys:     {"data_keys", []string{"id", "owner_kind", "owner_id", "thread_id", "kek_version", "wrapped"}},
	dataChunks:   {"data_chunks", []string{"data_key_id", "seq", "ct"}},
	threads:      {"threads", []string{"id", "provider_id", "staff_id", "team_id", "subject_key", "subject_ct", "created_at", "last_message_at", "last_sender_id"}},
	messages:     {"messages", []string{"id", "thread_id", "sender_id", "body_key", "body_ct", "created_at"}},
	messageReads: {"message_reads", []string{"message_id", "user_id", "read_at"}},
	attachments:  {"attachments", []string{"id", "message_id", "name_key", "name_ct", "data_key", "content_type", "size", "position", "created_at"}},
}

// batch is the sealed rows of a run of threads, ready to copy.
type batch struct {
	rows [tableCount][][]any
}

func (b *batch) add(t int, values ...any) { b.rows[t] = append(b.rows[t], values) }

// copyBatch writes b in one transaction with COPY, and adds the rows
// written per table to counts.
func copyBatch(ctx context.Context, pool *pgxpool.Pool, b *batch, counts *[tableCount]int64) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for t, rows := range b.rows {
			if len(rows) == 0 {
				continue
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{tables[t].name}, tables[t].columns, pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("copy %s: %w", tables[t].name, err)
			}
			counts[t] += n
		}
		return nil
	})
}
