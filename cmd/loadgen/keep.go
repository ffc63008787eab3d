package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/jackc/pgx/v5"
)

// keptSeedFile, in a bench's -keep directory, records the population its
// database was seeded with. It is written only after the seed completed,
// so a run cut short is seeded again, not measured half-filled.
const keptSeedFile = "seeded.json"

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

// keptSeed is the population recorded in dir, zero if none.
func keptSeed(dir string) population {
	var p population
	b, err := os.ReadFile(filepath.Join(dir, keptSeedFile))
	if err == nil && json.Unmarshal(b, &p) != nil {
		return population{}
	}
	return p
}

func saveKeptSeed(dir string, p population) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, keptSeedFile), b, 0o600)
}

// holdsSeed tells whether database name on the server at serverURL is
// there with at least p's threads (another bench without -keep drops and
// seeds it again, perhaps smaller).
func holdsSeed(ctx context.Context, serverURL, name string, p population) bool {
	dbURL, err := databaseURL(serverURL, name)
	if err != nil {
		return false
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return false
	}
	defer conn.Close(ctx)
	var threads, users int
	err = conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM threads), (SELECT count(*) FROM users)`).Scan(&threads, &users)
	return err == nil && threads >= p.Threads && users >= p.Providers+p.Staff
}
