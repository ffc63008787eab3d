package postgres

import (
	"context"
	"fmt"
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
