package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

const (
	auditAwaySet        audit.Action = "account.away_set"
	auditReminderQueued audit.Action = "message.reminder_queued"
)

func (s *MessagingStore) Remind(ctx context.Context, staff messaging.Viewer, messageID string, every time.Duration) (string, error) {
	var threadID string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var providerID int64
		var opened, byEmail, recent bool
		// FOR UPDATE: two clicks at once queue one reminder.
		err := tx.QueryRow(ctx, `SELECT m.thread_id::text, t.provider_id,
				`+openedByProviderSideSQL+`,
				EXISTS (SELECT 1 FROM message_deliveries d WHERE d.message_id = m.id AND d.method = 'tls'),
				EXISTS (SELECT 1 FROM audit_events e WHERE e.target_type = 'message' AND e.target_id = m.id::text
					AND e.action = $3 AND e.at > now() - $4::interval)
			FROM messages m JOIN threads t ON t.id = m.thread_id
			WHERE `+threadScope(staff)+` AND m.id = $2 AND m.sender_id = $1 AND m.recalled_at IS NULL AND t.expired_at IS NULL
			FOR UPDATE OF m`, staff.UserID, messageID, string(auditReminderQueued), every).Scan(&threadID, &providerID, &opened, &byEmail, &recent)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return messaging.ErrNotFound
		case err != nil:
			return err
		case opened:
			return messaging.ErrAlreadyOpened
		case byEmail:
			return messaging.ErrSentByEmail
		case recent:
			return messaging.ErrRemindedRecently
		}
		if _, err := s.jobs.InsertTx(ctx, tx, messaging.NotifyMessage{MessageID: messageID, RecipientID: providerID, Reminder: true}, nil); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditReminderQueued, TargetType: "message", TargetID: messageID, IP: staff.IP,
			Detail: map[string]any{"thread_id": threadID, "provider_id": providerID}})
	})
	return threadID, wrap("remind", err)
}

// awayNowSQL tells whether the representative whose id is the expression
// who is out of office now.
func awayNowSQL(who string) string {
	return `EXISTS (SELECT 1 FROM staff_away a WHERE a.user_id = ` + who + ` AND a.starts_at <= now() AND now() < a.ends_at)`
}

// unavailableOwnerSQL tells whether thread t's owner cannot answer: out
// of office or no longer able to sign in. Such a thread is its team's.
var unavailableOwnerSQL = `(EXISTS (SELECT 1 FROM users o WHERE o.id = t.staff_id AND o.status <> 'active') OR ` + awayNowSQL("t.staff_id") + `)`

func (s *MessagingStore) SetAway(ctx context.Context, staff messaging.Viewer, a messaging.Away) error {
	return wrap("set away", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		detail := map[string]any{"cleared": true}
		if a.IsZero() {
			if _, err := tx.Exec(ctx, `DELETE FROM staff_away WHERE user_id = $1`, staff.UserID); err != nil {
				return err
			}
		} else {
			detail = map[string]any{"from": a.From.UTC().Format(time.RFC3339), "until": a.Until.UTC().Format(time.RFC3339)}
			if _, err := tx.Exec(ctx, `INSERT INTO staff_away (user_id, starts_at, ends_at) VALUES ($1, $2, $3)
				ON CONFLICT (user_id) DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at`,
				staff.UserID, a.From, a.Until); err != nil {
				return err
			}
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditAwaySet, TargetType: "user", TargetID: strconv.FormatInt(staff.UserID, 10), IP: staff.IP, Detail: detail})
	}))
}

func (s *MessagingStore) AwayOf(ctx context.Context, userID int64) (messaging.Away, error) {
	var a messaging.Away
	err := s.pool.QueryRow(ctx, `SELECT starts_at, ends_at FROM staff_away WHERE user_id = $1 AND ends_at > now()`, userID).Scan(&a.From, &a.Until)
	if errors.Is(err, pgx.ErrNoRows) {
		return messaging.Away{}, nil
	}
	return a, wrap("away of", err)
}
