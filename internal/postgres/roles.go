package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GrantAppRole gives role, the database role the portal serves as, what it
// needs and nothing more: reading and writing rows, but not changing the
// schema, and only appending to the audit log. Run it as the role that owns
// the tables (the one that migrates), after migrating: grants on "all
// tables" cover only the tables that exist.
//
// A role that does not own audit_events can neither UPDATE, DELETE nor
// TRUNCATE it (revoked here) nor disable its append-only trigger (only an
// owner may), so SQL run as the portal, by a bug or an attacker, cannot
// rewrite the audit trail.
func GrantAppRole(ctx context.Context, owner *pgxpool.Pool, role string) error {
	r := pgx.Identifier{role}.Sanitize()
	return wrap("grant app role", pgx.BeginFunc(ctx, owner, func(tx pgx.Tx) error {
		// Instances starting together take turns, under the migrations'
		// lock: PostgreSQL fails concurrent GRANTs on one object with
		// "tuple concurrently updated".
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID); err != nil {
			return err
		}
		for _, stmt := range []string{
			`GRANT USAGE ON SCHEMA public TO ` + r,
			`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ` + r,
			`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ` + r,
			`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ` + r,
			`REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM ` + r,
		} {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("%s: %w", stmt, err)
			}
		}
		return nil
	}))
}

// RolePrivilege says how much power the pool's database role has over the
// schema.
type RolePrivilege int

const (
	// RoleRestricted: the role neither owns the tables nor is a superuser.
	RoleRestricted RolePrivilege = iota
	// RoleOwner: the role owns the tables, so it could disable the audit log's
	// append-only trigger.
	RoleOwner
	// RoleSuperuser: the role can do anything, including rewriting the audit log.
	RoleSuperuser
)

// PrivilegeOf reports the pool's role and its privilege over the schema.
func PrivilegeOf(ctx context.Context, pool *pgxpool.Pool) (role string, p RolePrivilege, err error) {
	var super, owner bool
	err = pool.QueryRow(ctx, `SELECT current_user::text, r.rolsuper, pg_has_role(current_user, c.relowner, 'USAGE')
		FROM pg_roles r, pg_class c WHERE r.rolname = current_user AND c.oid = 'audit_events'::regclass`).Scan(&role, &super, &owner)
	switch {
	case err != nil:
		return "", RoleRestricted, wrap("role privilege", err)
	case super:
		return role, RoleSuperuser, nil
	case owner:
		return role, RoleOwner, nil
	}
	return role, RoleRestricted, nil
}
