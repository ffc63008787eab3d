package main

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

// portalDB is the portal's database and keyring, found as the portal finds
// them (PORTAL_DATABASE_URL, PORTAL_KEYRING).
type portalDB struct {
	pool    *pgxpool.Pool
	keyring *envelope.Keyring
}

func openPortalDB(ctx context.Context, getenv func(string) string) (portalDB, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return portalDB{}, err
	}
	keyring, err := envelope.LoadKeyring(cfg.KeyringPath)
	if err != nil {
		return portalDB{}, fmt.Errorf("PORTAL_KEYRING: %w", err)
	}
	pool, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return portalDB{}, err
	}
	return portalDB{pool: pool, keyring: keyring}, nil
}

func (db portalDB) close() { db.pool.Close() }
