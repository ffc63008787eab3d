package main

import (
	"context"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/healthnet/secureportal/internal/pgtest"
)

// A -keep directory's database is measured again only when the record of
// a completed seed names the same population and the same database: not
// with no record, a torn one, another population, or after another bench
// dropped and created the database (whose data another keyring sealed).
func TestAKeptDatabaseIsReusedOnlyAsRecorded(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	name := path.Base(u.Path)
	server, err := databaseURL(dbURL, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := benchDir(filepath.Join(t.TempDir(), "kept"))
	if err != nil {
		t.Fatal(err)
	}
	pop := population{Providers: 2000, Staff: 300, Teams: 10, Threads: 20000, Messages: 100000, Attachments: 0.05, Seed: 1}
	if seededBefore(ctx, dir, server, name, pop) {
		t.Error("a new directory is taken as seeded")
	}
	if err := rememberSeed(ctx, dir, server, name, pop); err != nil {
		t.Fatal(err)
	}
	if !seededBefore(ctx, dir, server, name, pop) {
		t.Error("the recorded database is not taken as seeded")
	}
	other := pop
	other.Messages, other.Threads = 1000000, 200000
	if seededBefore(ctx, dir, server, name, other) {
		t.Error("a database seeded with another population is taken as seeded")
	}
	if err := os.WriteFile(filepath.Join(dir, keptSeedFile), []byte(`{"Population": {"Providers": 20`), 0o600); err != nil {
		t.Fatal(err)
	}
	if seededBefore(ctx, dir, server, name, pop) {
		t.Error("a torn record is taken as seeded")
	}
	if err := rememberSeed(ctx, dir, server, name, pop); err != nil {
		t.Fatal(err)
	}
	if err := freshDatabase(ctx, server, name); err != nil { // as a bench without -keep does
		t.Fatal(err)
	}
	if seededBefore(ctx, dir, server, name, pop) {
		t.Error("a database dropped and created again is taken as the one seeded")
	}
	if err := forgetSeed(dir); err != nil {
		t.Fatal(err)
	}
	if err := forgetSeed(dir); err != nil {
		t.Errorf("forgetting twice: %v", err)
	}
}
