package main

import (
	"os"
	"path/filepath"
	"testing"
)

// A -keep directory names the population only once its seed completed;
// anything else there (nothing, a torn file) means seed again.
func TestKeptSeedIsThePopulationSavedOrNothing(t *testing.T) {
	dir, err := benchDir(filepath.Join(t.TempDir(), "kept"))
	if err != nil {
		t.Fatal(err)
	}
	if got := keptSeed(dir); got != (population{}) {
		t.Errorf("a new directory names a population: %+v", got)
	}
	pop := population{Providers: 2000, Staff: 300, Teams: 10, Threads: 20000, Messages: 100000, Attachments: 0.05, Seed: 1}
	if err := saveKeptSeed(dir, pop); err != nil {
		t.Fatal(err)
	}
	if got := keptSeed(dir); got != pop {
		t.Errorf("kept %+v, read back %+v", pop, got)
	}
	if err := os.WriteFile(filepath.Join(dir, keptSeedFile), []byte(`{"Providers": 20`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := keptSeed(dir); got != (population{}) {
		t.Errorf("a torn record names a population: %+v", got)
	}
}
