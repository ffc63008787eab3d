package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

func (s *MessagingStore) GrantEmergency(ctx context.Context, admin messaging.Viewer, threadID, reason string, until time.Time) error {
	return wrap("grant emergency access", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `INSERT INTO emergency_access (admin_id, thread_id, reason, expires_at)
			SELECT $1, t.id, $3, $4 FROM threads t WHERE t.id = $2 RETURNING id`, admin.UserID, threadID, reason, until).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: admin.UserID, Action: audit.EmergencyAccess, TargetType: "thread", TargetID: threadID, IP: admin.IP,
			Detail: map[string]any{"thread_id": threadID, "use": "granted", "reason": reason, "until": until.UTC().Format(time.RFC3339), "grant_id": id}})
	}))
}

func (s *MessagingStore) EmergencyGrants(ctx context.Context, limit int) ([]messaging.EmergencyGrant, error) {
	rows, err := s.pool.Query(ctx, `SELECT e.id, u.email::text, e.thread_id::text, e.reason, e.granted_at, e.expires_at
		FROM emergency_access e JOIN users u ON u.id = e.admin_id ORDER BY e.granted_at DESC LIMIT $1`, limit)
	if err != nil {
		return nil, wrap("emergency grants", err)
	}
	grants, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (messaging.EmergencyGrant, error) {
		var g messaging.EmergencyGrant
		err := r.Scan(&g.ID, &g.AdminEmail, &g.ThreadID, &g.Reason, &g.GrantedAt, &g.ExpiresAt)
		return g, err
	})
	return grants, wrap("emergency grants", err)
}
