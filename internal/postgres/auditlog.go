package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/audit"
)

// AuditLog reads audit_events for the admin console.
type AuditLog struct{ pool *pgxpool.Pool }

func NewAuditLog(pool *pgxpool.Pool) *AuditLog { return &AuditLog{pool: pool} }

var _ audit.Log = (*AuditLog)(nil)

const auditSelect = `SELECT e.id, e.at, coalesce(e.actor_id, 0), coalesce(a.email::text, ''), e.action, e.target_type, e.target_id,
	coalesce(tu.email::text, ''), e.ip, e.detail::text
	FROM audit_events e
	LEFT JOIN users a ON a.id = e.actor_id
	LEFT JOIN users tu ON e.target_type = 'user' AND tu.id::text = e.target_id`

// where builds the filter's SQL conditions and arguments.
func auditWhere(f audit.Filter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.ActorEmail != "" {
		add("a.email = ?", f.ActorEmail)
	}
	if f.SubjectEmail != "" {
		add("tu.email = ?", f.SubjectEmail)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			add("starts_with(e.action, ?)", f.Action)
		} else {
			add("e.action = ?", f.Action)
		}
	}
	if f.ThreadID != "" {
		add("(e.detail->>'thread_id' = ? OR (e.target_type = 'thread' AND e.target_id = ?::text))", f.ThreadID)
	}
	if !f.From.IsZero() {
		add("e.at >= ?", f.From)
	}
	if !f.To.IsZero() {
		add("e.at < ?", f.To)
	}
	if f.Before > 0 {
		add("e.id < ?", f.Before)
	}
	if len(conds) == 0 {
		return "", args
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

func scanEntry(row pgx.Row) (audit.Entry, error) {
	var e audit.Entry
	err := row.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetType, &e.TargetID, &e.TargetEmail, &e.IP, &e.Detail)
	return e, err
}

func (l *AuditLog) List(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	where, args := auditWhere(f)
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args = append(args, f.Limit)
	rows, err := l.pool.Query(ctx, auditSelect+where+fmt.Sprintf(" ORDER BY e.id DESC LIMIT $%d", len(args)), args...)
	if err != nil {
		return nil, wrap("list audit", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (audit.Entry, error) { return scanEntry(r) })
	return entries, wrap("list audit", err)
}

func (l *AuditLog) Export(ctx context.Context, f audit.Filter, fn func(audit.Entry) error) error {
	where, args := auditWhere(f)
	// pgx reads rows from the socket as they are consumed, so the export
	// streams; it does not collect the result first.
	rows, err := l.pool.Query(ctx, auditSelect+where+" ORDER BY e.id", args...)
	if err != nil {
		return wrap("export audit", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return wrap("export audit", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return wrap("export audit", rows.Err())
}
