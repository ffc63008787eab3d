package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

// EnsureTeam returns the id of the team called name, creating it with its
// line of business if it does not exist.
func EnsureTeam(ctx context.Context, q Querier, name, lineOfBusiness string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO teams (name, line_of_business) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, name, lineOfBusiness).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("postgres: ensure team: %w", err)
	}
	return id, nil
}

// AddTeamMember puts a representative in a team (no-op if already there).
func AddTeamMember(ctx context.Context, q Querier, teamID, userID int64) error {
	_, err := q.Exec(ctx, `INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, teamID, userID)
	if err != nil {
		return fmt.Errorf("postgres: add team member: %w", err)
	}
	return nil
}

func (s *MessagingStore) Teams(ctx context.Context) ([]messaging.TeamInfo, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.name, t.line_of_business, coalesce(u.id, 0),
		coalesce(nullif(u.display_name, ''), u.email::text, ''), coalesce(u.email::text, '')
		FROM teams t LEFT JOIN team_members m ON m.team_id = t.id LEFT JOIN users u ON u.id = m.user_id
		ORDER BY t.name, lower(u.email::text)`)
	if err != nil {
		return nil, wrap("teams", err)
	}
	defer rows.Close()
	var out []messaging.TeamInfo
	for rows.Next() {
		var t messaging.Team
		var m messaging.Member
		if err := rows.Scan(&t.ID, &t.Name, &t.LineOfBusiness, &m.UserID, &m.Name, &m.Email); err != nil {
			return nil, wrap("teams", err)
		}
		if len(out) == 0 || out[len(out)-1].ID != t.ID {
			out = append(out, messaging.TeamInfo{Team: t})
		}
		if m.UserID != 0 {
			out[len(out)-1].Members = append(out[len(out)-1].Members, m)
		}
	}
	return out, wrap("teams", rows.Err())
}

func (s *MessagingStore) TeamsOf(ctx context.Context, userID int64) ([]messaging.Team, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.id, t.name, t.line_of_business FROM teams t JOIN team_members m ON m.team_id = t.id
		WHERE m.user_id = $1 ORDER BY t.name`, userID)
	if err != nil {
		return nil, wrap("teams of", err)
	}
	teams, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (messaging.Team, error) {
		var t messaging.Team
		err := r.Scan(&t.ID, &t.Name, &t.LineOfBusiness)
		return t, err
	})
	return teams, wrap("teams of", err)
}

func (s *MessagingStore) CreateTeam(ctx context.Context, actor messaging.Viewer, name, lob string) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO teams (name, line_of_business) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING id`, name, lob).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrTeamExists
		}
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: actor.UserID, Action: audit.TeamChanged, TargetType: "team", TargetID: fmt.Sprint(id), IP: actor.IP,
			Detail: map[string]any{"change": "created"}})
	})
	return id, wrap("create team", err)
}

func (s *MessagingStore) SetMembership(ctx context.Context, actor messaging.Viewer, teamID int64, email string, member bool) error {
	return wrap("set membership", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)`, teamID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return messaging.ErrNotFound
		}
		var userID int64
		err := tx.QueryRow(ctx, `SELECT id FROM users WHERE email = $1 AND role = 'staff'`, email).Scan(&userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotStaff
		}
		if err != nil {
			return err
		}
		change := "member_added"
		if member {
			err = AddTeamMember(ctx, tx, teamID, userID)
		} else {
			change = "member_removed"
			_, err = tx.Exec(ctx, `DELETE FROM team_members WHERE team_id = $1 AND user_id = $2`, teamID, userID)
		}
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: actor.UserID, Action: audit.TeamChanged, TargetType: "team", TargetID: fmt.Sprint(teamID), IP: actor.IP,
			Detail: map[string]any{"change": change, "user_id": userID}})
	}))
}
