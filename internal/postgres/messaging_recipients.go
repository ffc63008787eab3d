package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/messaging"
)

// providerRecipientsSQL is whom provider $1 may write to, the one place
// that rule lives: an active representative (still of role staff: someone
// moved to another role can no longer answer) they already correspond with,
// or any team. Recipients lists it, and StartThreadFromProvider accepts
// nothing else, whatever the compose form sent. The kinds are
// messaging.RecipientStaff and messaging.RecipientTeam.
const providerRecipientsSQL = `
	SELECT 'staff' AS kind, u.id, coalesce(nullif(u.display_name, ''), u.email::text) AS name,
		'Representative you already correspond with' AS description
	FROM users u WHERE u.status = 'active' AND u.role = 'staff' AND u.id IN (SELECT staff_id FROM threads WHERE provider_id = $1)
	UNION ALL
	SELECT 'team', id, name, coalesce(nullif(line_of_business, ''), 'Team') FROM teams`

func (s *MessagingStore) Recipients(ctx context.Context, provider messaging.Viewer) ([]messaging.Recipient, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, id, name, description FROM (`+providerRecipientsSQL+`) r
		ORDER BY kind, name, id`, provider.UserID)
	if err != nil {
		return nil, wrap("recipients", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (messaging.Recipient, error) {
		var rc messaging.Recipient
		var kind string
		var id int64
		err := r.Scan(&kind, &id, &rc.Name, &rc.Description)
		rc.Key = messaging.RecipientKey(kind, id)
		return rc, err
	})
	return list, wrap("recipients", err)
}

// providerRecipient resolves the recipient key a provider chose into the new
// thread's owner and team, refusing with messaging.ErrRecipientUnset any
// key that providerRecipientsSQL does not list for them.
func providerRecipient(ctx context.Context, tx pgx.Tx, providerID int64, key string) (staffID, teamID *int64, err error) {
	kind, id, ok := messaging.ParseRecipientKey(key)
	if !ok {
		return nil, nil, messaging.ErrRecipientUnset
	}
	var allowed bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM (`+providerRecipientsSQL+`) r WHERE r.kind = $2 AND r.id = $3)`,
		providerID, kind, id).Scan(&allowed); err != nil {
		return nil, nil, err
	}
	if !allowed {
		return nil, nil, messaging.ErrRecipientUnset
	}
	if kind == messaging.RecipientTeam {
		return nil, &id, nil
	}
	teamID, err = onlyTeamOf(ctx, tx, id)
	return &id, teamID, err
}

// onlyTeamOf returns the team of a representative who belongs to exactly
// one, so their threads are shared with it; nil otherwise.
func onlyTeamOf(ctx context.Context, tx pgx.Tx, userID int64) (*int64, error) {
	rows, err := tx.Query(ctx, `SELECT team_id FROM team_members WHERE user_id = $1 LIMIT 2`, userID)
	if err != nil {
		return nil, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil || len(ids) != 1 {
		return nil, err
	}
	return &ids[0], nil
}

// staffRecipients are the representatives a provider's message notifies:
// the thread's owner, or every active member of its team who is not out
// of office (all active members, should every one of them be away).
func staffRecipients(ctx context.Context, tx pgx.Tx, staffID, teamID *int64) ([]int64, error) {
	if staffID != nil {
		// An owner who can no longer sign in (disabled) or is out of
		// office would leave the provider's message unseen: the team is
		// told instead.
		var available bool
		if err := tx.QueryRow(ctx, `SELECT status = 'active' AND NOT `+awayNowSQL("$1")+` FROM users WHERE id = $1`, *staffID).Scan(&available); err != nil {
			return nil, err
		}
		if available || teamID == nil {
			return []int64{*staffID}, nil
		}
	}
	rows, err := tx.Query(ctx, `SELECT u.id, `+awayNowSQL("u.id")+` FROM team_members m JOIN users u ON u.id = m.user_id
		WHERE m.team_id = $1 AND u.status = 'active' ORDER BY u.id`, *teamID)
	if err != nil {
		return nil, err
	}
	var all, here []int64
	var id int64
	var away bool
	_, err = pgx.ForEachRow(rows, []any{&id, &away}, func() error {
		all = append(all, id)
		if !away {
			here = append(here, id)
		}
		return nil
	})
	if err != nil || len(here) > 0 {
		return here, err
	}
	return all, nil
}
