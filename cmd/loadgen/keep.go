package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// keptSeedFile, in a bench's -keep directory, records what its database
// was seeded with. It is written only after the seed completed, so a run
// cut short is seeded again, not measured half-filled.
const keptSeedFile = "seeded.json"

// keptSeed is that record: the population, and the database it went into
// by OID. Another bench that drops and creates the database (with a
// keyring of its own) gives it a new OID, so its data is never taken for
// the data this directory's keyring sealed.
type keptSeed struct {
	Population population
	Database   uint32
}

// benchDir is where a bench keeps its keyring and portal files: keep (made
// if need be) or, without it, a temporary directory the caller removes.
func benchDir(keep string) (string, error) {
	if keep == "" {
		return os.MkdirTemp("", "loadgen-bench-")
	}
	if err := os.MkdirAll(keep, 0o700); err != nil {
		return "", err
	}
	return filepath.Abs(keep)
}

// seededBefore tells whether database name on the server at serverURL is
// the one recorded in dir, seeded with p.
func seededBefore(ctx context.Context, dir, serverURL, name string, p population) bool {
	b, err := os.ReadFile(filepath.Join(dir, keptSeedFile))
	if err != nil {
		return false
	}
	var k keptSeed
	if json.Unmarshal(b, &k) != nil || k.Population != p {
		return false
	}
	oid, err := databaseOID(ctx, serverURL, name)
	return err == nil && oid == k.Database
}

// rememberSeed records in dir that database name was seeded with p.
func rememberSeed(ctx context.Context, dir, serverURL, name string, p population) error {
	oid, err := databaseOID(ctx, serverURL, name)
	if err != nil {
		return err
	}
	b, err := json.Marshal(keptSeed{Population: p, Database: oid})
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, keptSeedFile), b, 0o600)
}

// forgetSeed removes dir's record, before the database is seeded anew.
func forgetSeed(dir string) error {
	err := os.Remove(filepath.Join(dir, keptSeedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// databaseOID is the OID of database name on the server at serverURL.
func databaseOID(ctx context.Context, serverURL, name string) (uint32, error) {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var oid uint32
	err = conn.QueryRow(ctx, `SELECT oid FROM pg_database WHERE datname = $1`, name).Scan(&oid)
	return oid, err
}
