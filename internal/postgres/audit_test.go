package postgres_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

func TestAuditEventsChainAndCannotBeChanged(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for i, a := range []audit.Action{audit.LoginFailed, audit.LoginSucceeded, audit.Logout} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return postgres.AppendAudit(ctx, tx, audit.Event{ActorID: int64(i + 1), Action: a, TargetType: "user", TargetID: "1", IP: "192.0.2.1",
				Detail: map[string]any{"n": i}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT prev_hash, hash,
		audit_row_hash(prev_hash, at, actor_id, action, target_type, target_id, ip, detail) FROM audit_events ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var prev []byte
	n := 0
	for rows.Next() {
		var p, h, want []byte
		rows.Scan(&p, &h, &want)
		if !bytes.Equal(p, prev) {
			t.Errorf("row %d: prev_hash does not link to the previous row", n)
		}
		if !bytes.Equal(h, want) || len(h) != sha256.Size {
			t.Errorf("row %d: stored hash differs from recomputed", n)
		}
		prev = h
		n++
	}
	if n != 3 {
		t.Fatalf("%d rows", n)
	}
	for _, stmt := range []string{
		"UPDATE audit_events SET action = 'login.succeeded' WHERE action = 'login.failed'",
		"DELETE FROM audit_events",
		"TRUNCATE audit_events",
	} {
		if _, err := pool.Exec(ctx, stmt); err == nil {
			t.Errorf("%q succeeded on the append-only audit log", stmt)
		}
	}
}
