package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// seedPeople inserts the providers, the staff and their teams, all active
// with the same password hash, and returns their ids by index. Plain
// batched INSERTs (not COPY): email is citext, which COPY's binary format
// does not know, and 20,000 rows take a fraction of a second anyway.
func seedPeople(ctx context.Context, pool *pgxpool.Pool, pop population, phc string) (people, error) {
	var ppl people
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		if ppl.providers, err = insertUsers(ctx, tx, "provider", "Dr. Provider", pop.Providers, providerEmail, phc); err != nil {
			return err
		}
		if ppl.staff, err = insertUsers(ctx, tx, "staff", "Representative", pop.Staff, staffEmail, phc); err != nil {
			return err
		}
		names := make([]string, pop.Teams)
		for i := range names {
			names[i] = fmt.Sprintf("Load team %02d", i+1)
		}
		rows, err := tx.Query(ctx, `INSERT INTO teams (name, line_of_business)
			SELECT n, 'Cal MediConnect' FROM unnest($1::text[]) WITH ORDINALITY AS x(n, i) ORDER BY i RETURNING id`, names)
		if err != nil {
			return err
		}
		if ppl.teams, err = sortedIDs(rows); err != nil {
			return err
		}
		members := make([]int64, len(ppl.staff))
		for i := range members {
			members[i] = ppl.teams[i%len(ppl.teams)]
		}
		_, err = tx.Exec(ctx, `INSERT INTO team_members (team_id, user_id) SELECT * FROM unnest($1::bigint[], $2::bigint[])`, members, ppl.staff)
		return err
	})
	if err != nil {
		return people{}, fmt.Errorf("seed users and teams: %w", err)
	}
	return ppl, nil
}

// insertUsers inserts n users of role and returns their ids in index order.
func insertUsers(ctx context.Context, tx pgx.Tx, role, name string, n int, email func(int) string, phc string) ([]int64, error) {
	emails, names := make([]string, n), make([]string, n)
	for i := range n {
		emails[i], names[i] = email(i), fmt.Sprintf("%s %d", name, i+1)
	}
	rows, err := tx.Query(ctx, `INSERT INTO users (email, display_name, role, status, password_hash, password_changed_at)
		SELECT e, n, $3, 'active', $4, now() FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(e, n, i)
		ORDER BY i RETURNING id`, emails, names, role, phc)
	if err != nil {
		return nil, err
	}
	return sortedIDs(rows)
}

// sortedIDs collects RETURNING ids in insertion order: identities are
// drawn in the order rows are inserted, which the ORDER BY fixes.
func sortedIDs(rows pgx.Rows) ([]int64, error) {
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	slices.Sort(ids)
	return ids, err
}
