// Package hsmtest gives tests a fresh token on Debian's SoftHSM2 (package
// softhsm2, installed by .ci/run), a real PKCS#11 module.
package hsmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/healthnet/secureportal/internal/hsm"
)

// Module is where Debian's softhsm2 puts its PKCS#11 library.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// PIN is every test token's user PIN.
const PIN = "4711-test-pin"

var (
	setup    sync.Once
	setupErr error
	serial   int
	mu       sync.Mutex
)

// Token initialises a new token and returns the configuration that opens
// it, with the PIN in a file. SoftHSM2 reads SOFTHSM2_CONF once per
// process, so every token of a test binary lives in one temporary
// directory, set up on first use. Without SoftHSM2 the test is skipped,
// except under CI=true, where it fails: CI must prove the HSM path.
func Token(t testing.TB) hsm.Config {
	t.Helper()
	if _, err := os.Stat(Module); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("SoftHSM2 is not installed (%s missing): install Debian's softhsm2", Module)
		}
		t.Skipf("SoftHSM2 is not installed (%s missing); apt-get install softhsm2", Module)
	}
	setup.Do(func() {
		dir, err := os.MkdirTemp("", "softhsm-")
		if err != nil {
			setupErr = err
			return
		}
		tokens := filepath.Join(dir, "tokens")
		if err := os.Mkdir(tokens, 0o700); err != nil {
			setupErr = err
			return
		}
		conf := filepath.Join(dir, "softhsm2.conf")
		setupErr = os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
		os.Setenv("SOFTHSM2_CONF", conf)
	})
	if setupErr != nil {
		t.Fatalf("softhsm setup: %v", setupErr)
	}
	mu.Lock()
	serial++
	label := fmt.Sprintf("portal-test-%d-%d", os.Getpid(), serial)
	mu.Unlock()
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "so-"+PIN).CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return hsm.Config{Module: Module, TokenLabel: label, PINFile: pinFile}
}
