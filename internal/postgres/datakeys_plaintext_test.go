package postgres_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/envelope"
)

const marker = "PLAINTEXT-MARKER-7d1c"

// columnsContaining searches every text, bytea, json and jsonb column of
// every table in the public schema for needle and returns "table.column" for
// each column where it occurs.
func columnsContaining(ctx context.Context, t *testing.T, pool *pgxpool.Pool, needle string) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `
		SELECT c.table_name, c.column_name, c.data_type
		FROM information_schema.columns c
		JOIN information_schema.tables t USING (table_schema, table_name)
		WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
		  AND c.data_type IN ('text', 'character varying', 'character', 'bytea', 'json', 'jsonb')
		ORDER BY 1, 2`)
	if err != nil {
		t.Fatal(err)
	}
	type column struct{ table, name, typ string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.table, &c.name, &c.typ)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < 5 {
		t.Fatalf("only %d columns to scan: the query is wrong", len(cols))
	}
	var found []string
	for _, c := range cols {
		col := pgx.Identifier{c.name}.Sanitize()
		var arg any = needle
		switch c.typ {
		case "bytea":
			arg = []byte(needle)
		case "json", "jsonb":
			col += "::text"
		}
		var n int
		q := fmt.Sprintf(`SELECT count(*) FROM %s WHERE position($1 IN %s) > 0`, pgx.Identifier{c.table}.Sanitize(), col)
		if err := pool.QueryRow(ctx, q, arg).Scan(&n); err != nil {
			t.Fatalf("scanning %s.%s: %v", c.table, c.name, err)
		}
		if n > 0 {
			found = append(found, c.table+"."+c.name)
		}
	}
	return found
}

// A dump of the database must reveal no subject, body, file name or
// attachment byte. The scan is first shown to find a planted plaintext, so a
// pass means the marker is really absent, not that the scan is blind.
func TestDatabaseHoldsNoPlaintextOfSealedRecordsOrStreams(t *testing.T) {
	f := newFixture(t)

	// Canary: plaintext written straight into a bytea column is found.
	f.pool.Exec(f.ctx, `INSERT INTO test_notes (id, data_key_id, body_ct) VALUES ('canary', gen_random_uuid(), $1)`, []byte("x"+marker+"x"))
	if got := columnsContaining(f.ctx, t, f.pool, marker); fmt.Sprint(got) != "[test_notes.body_ct]" {
		t.Fatalf("canary: scan found %v, want [test_notes.body_ct]", got)
	}
	f.pool.Exec(f.ctx, `DELETE FROM test_notes WHERE id = 'canary'`)

	f.sealNote("body", []byte("Dear Dr. Smith, "+marker+" lab results attached."))
	f.sealNote("subject", []byte(marker))
	f.sealNote("filename", []byte(marker+"-referral.pdf"))
	// An attachment full of markers, one straddling a segment boundary.
	var att bytes.Buffer
	for att.Len() < 3*envelope.SegmentSize {
		att.WriteString(marker + " ")
	}
	att.WriteString(marker)
	if _, _, err := f.writeStream(bytes.NewReader(att.Bytes()), 1<<20); err != nil {
		t.Fatal(err)
	}
	if got, err := f.openNote("body"); err != nil || !bytes.Contains(got, []byte(marker)) {
		t.Fatalf("sealed body does not open: %v", err)
	}

	if found := columnsContaining(f.ctx, t, f.pool, marker); len(found) > 0 {
		t.Fatalf("plaintext marker found in %v", found)
	}
}
