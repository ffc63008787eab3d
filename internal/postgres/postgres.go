// Package postgres owns the connection pool, schema migrations and the store
// implementations of the domain packages' interfaces.
package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Open connects a pool to url and checks that the server answers.
func Open(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can echo the URL, password included: keep it out.
		return nil, fmt.Errorf("postgres: parse database URL: invalid connection string")
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	if cfg.MaxConns < 4 {
		cfg.MaxConns = 4 // migrations hold one connection for the lock and use another
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s:%d/%s: %w", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// replanned, given as a query's first argument, has pgx send it as an
// unnamed statement, planned for the table as it is at each call, instead
// of a prepared statement whose plan the connection keeps. It is for the
// point lookups of tables that are often empty when a burst of jobs
// begins (mail_sent once pruned, message_deliveries on a new install) and
// grow by thousands of rows in it: PostgreSQL plans a lookup in a table it
// last analysed empty as a sequential scan, and a connection kept that plan
// as the table grew, until autovacuum analysed it again. In a burst of
// 10,000 notifications each such lookup took 3-5 ms instead of 0.05
// (docs/PERFORMANCE.md, "Notifications: 500 a second").
// Planning a primary-key lookup costs a few hundredths of a millisecond.
const replanned = pgx.QueryExecModeExec

// InTx runs fn in a transaction, committing when it returns nil and rolling
// back otherwise.
func InTx(ctx context.Context, pool *pgxpool.Pool, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// CreateDatabaseIfMissing creates the database that url names, connecting to
// the same server's "postgres" database to do so. It is for development set-ups
// (`make run`), where the server exists but the portal's database may not.
func CreateDatabaseIfMissing(ctx context.Context, url string) (created bool, err error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return false, fmt.Errorf("postgres: parse database URL: invalid connection string")
	}
	name := cfg.Database
	cfg.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, fmt.Errorf("postgres: connect to %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return false, fmt.Errorf("postgres: look up database %s: %w", name, err)
	}
	if exists {
		return false, nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return false, fmt.Errorf("postgres: create database %s: %w", name, err)
	}
	return true, nil
}
