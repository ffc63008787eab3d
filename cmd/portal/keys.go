package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

const keysUsage = `Usage: portal keys <command>

Commands:
  init                create the keyring at PORTAL_KEYRING (mode 0600); never overwrites one
  rotate              add a KEK version and make it the one new data keys are wrapped with
  rewrap [--batch N]  rewrap every data key to the current KEK version (resumable; default N 500)
  status              list KEK versions, their state and how many data keys each wraps
  retire V            destroy KEK version V; refused while any data key still uses it

Rotation: rotate, wait a minute (running portals re-read the keyring), rewrap, then retire the old version.
See "Keys and encryption" in README.md.`

// cmdKeys runs `portal keys ...`, the operator's tools for the keyring
// (DESIGN.md §5). init and rotate touch only the keyring file; the others
// also need the database.
func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{keysUsage}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "init":
		if _, err := keysArgs(sub, rest, 0, nil); err != nil {
			return err
		}
		return keysInit(getenv, stdout)
	case "rotate":
		if _, err := keysArgs(sub, rest, 0, nil); err != nil {
			return err
		}
		return keysRotate(getenv, stdout)
	case "rewrap":
		batch := postgres.DefaultRewrapBatch
		_, err := keysArgs(sub, rest, 0, func(set *flag.FlagSet) {
			set.IntVar(&batch, "batch", batch, "data keys per transaction")
		})
		if err != nil {
			return err
		}
		if batch < 1 {
			return usageError{fmt.Sprintf("portal keys rewrap: --batch must be at least 1\n\n%s", keysUsage)}
		}
		return keysRewrap(ctx, getenv, batch, stdout, stderr)
	case "status":
		if _, err := keysArgs(sub, rest, 0, nil); err != nil {
			return err
		}
		return keysStatus(ctx, getenv, stdout, stderr)
	case "retire":
		pos, err := keysArgs(sub, rest, 1, nil)
		if err != nil {
			return err
		}
		v, err := strconv.ParseUint(pos[0], 10, 32)
		if err != nil || v == 0 {
			return usageError{fmt.Sprintf("portal keys retire: %q is not a KEK version number\n\n%s", pos[0], keysUsage)}
		}
		return keysRetire(ctx, getenv, uint32(v), stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, keysUsage)
		return nil
	}
	return usageError{fmt.Sprintf("portal keys: unknown command %q\n\n%s", sub, keysUsage)}
}

// keysArgs parses a keys subcommand's flags (declared by define, if any),
// requires exactly positional arguments after them and returns those.
func keysArgs(name string, args []string, positional int, define func(*flag.FlagSet)) ([]string, error) {
	set := flag.NewFlagSet("portal keys "+name, flag.ContinueOnError)
	set.SetOutput(io.Discard) // the usage error says it once
	if define != nil {
		define(set)
	}
	if err := set.Parse(args); err != nil {
		return nil, usageError{fmt.Sprintf("portal keys %s: %v\n\n%s", name, err, keysUsage)}
	}
	if set.NArg() != positional {
		return nil, usageError{fmt.Sprintf("portal keys %s: takes %d argument(s), got %d\n\n%s", name, positional, set.NArg(), keysUsage)}
	}
	return set.Args(), nil
}

func keysInit(getenv func(string) string, stdout io.Writer) error {
	path := config.KeyringPath(getenv)
	if _, err := envelope.InitKeyring(path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("keys init: PORTAL_KEYRING %s already exists; refusing to overwrite it, "+
				"because that would make every record encrypted under it unreadable", path)
		}
		return fmt.Errorf("keys init: PORTAL_KEYRING %s: %w", path, err)
	}
	fmt.Fprintf(stdout, "created keyring %s (KEK version 1, mode 0600)\n", path)
	fmt.Fprintln(stdout, "Back it up now, separately from database backups: without it no backup can be read.")
	return nil
}

func keysRotate(getenv func(string) string, stdout io.Writer) error {
	path := config.KeyringPath(getenv)
	kr, err := loadKeyring(path)
	if err != nil {
		return err
	}
	old := kr.CurrentVersion()
	v, err := kr.Rotate()
	if err != nil {
		return fmt.Errorf("keys rotate: %w", err)
	}
	fmt.Fprintf(stdout, "KEK version %d is now active; version %d is decrypt-only.\n", v, old)
	fmt.Fprintln(stdout, "Next: back up the keyring, copy it to any host that does not share this file, wait a minute (running portals re-read it and wrap new keys with the new version), then run `portal keys rewrap`.")
	return nil
}

func keysRewrap(ctx context.Context, getenv func(string) string, batch int, stdout, stderr io.Writer) error {
	cfg, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := openKeyring(ctx, cfg, pool)
	if err != nil {
		return err
	}
	keys := postgres.NewDataKeys(pool, kr, 1, log)
	var left int64
	_, err = keys.Rewrap(ctx, batch, func(done, remaining int64) {
		left = remaining
		fmt.Fprintf(stdout, "rewrapped %d, %d remaining\n", done, remaining)
	})
	if err != nil {
		return fmt.Errorf("keys rewrap (run it again to resume): %w", err)
	}
	if left > 0 {
		fmt.Fprintf(stdout, "%d data keys are being rewrapped by another process; run again to check\n", left)
		return nil
	}
	fmt.Fprintf(stdout, "every data key is wrapped by KEK version %d\n", kr.CurrentVersion())
	return nil
}

func keysStatus(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Not openKeyring: status must still work, and show the gap, when the
	// keyring lacks a version the database needs.
	kr, err := loadKeyring(cfg.KeyringPath)
	if err != nil {
		return err
	}
	counts, err := postgres.NewDataKeys(pool, kr, 1, log).Status(ctx)
	if err != nil {
		return err
	}
	writeStatus(stdout, kr.Versions(), counts)
	return nil
}

// writeStatus prints one line per KEK version in the keyring, plus a
// MISSING line for each version the database references but the keyring
// does not hold.
func writeStatus(w io.Writer, versions []envelope.KeyInfo, counts []postgres.VersionCount) {
	byVersion := make(map[uint32]int64, len(counts))
	for _, c := range counts {
		byVersion[c.Version] = c.Count
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATE\tCREATED\tDATA KEYS")
	for _, v := range versions {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", v.Version, v.State, v.CreatedAt.UTC().Format(time.DateTime), byVersion[v.Version])
		delete(byVersion, v.Version)
	}
	for _, c := range counts {
		if n, ok := byVersion[c.Version]; ok {
			fmt.Fprintf(tw, "%d\tMISSING from keyring\t-\t%d\n", c.Version, n)
		}
	}
	tw.Flush()
}

func keysRetire(ctx context.Context, getenv func(string) string, v uint32, stdout, stderr io.Writer) error {
	cfg, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	kr, err := loadKeyring(cfg.KeyringPath)
	if err != nil {
		return err
	}
	if err := postgres.NewDataKeys(pool, kr, 1, log).RetireKEK(ctx, kr, v); err != nil {
		return fmt.Errorf("keys retire: %w", err)
	}
	fmt.Fprintf(stdout, "KEK version %d retired: its key material is gone from %s.\n", v, cfg.KeyringPath)
	fmt.Fprintln(stdout, "Destroy older copies of the keyring file too: until then, data shredded before the rotation can still be read from database backups.")
	return nil
}

// openKeyring loads the keyring named by PORTAL_KEYRING and checks that it
// holds every KEK version the database references. The portal must refuse to
// start otherwise: a wrong or outdated keyring would turn stored messages
// into errors one page at a time instead of failing loudly once.
func openKeyring(ctx context.Context, cfg *config.Config, pool *pgxpool.Pool) (*envelope.Keyring, error) {
	kr, err := loadKeyring(cfg.KeyringPath)
	if err != nil {
		return nil, err
	}
	if err := postgres.NewDataKeys(pool, kr, 1, nil).CheckKeyring(ctx, kr); err != nil {
		return nil, fmt.Errorf("PORTAL_KEYRING: %w", err)
	}
	return kr, nil
}

// loadKeyring reads the keyring with errors that tell an operator what to
// do: a missing file needs `portal keys init` (or the right path), a file
// readable by others needs chmod 600 (envelope's message says so).
func loadKeyring(path string) (*envelope.Keyring, error) {
	kr, err := envelope.LoadKeyring(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("PORTAL_KEYRING %s does not exist; run `portal keys init` to create it, or point PORTAL_KEYRING at the existing keyring", path)
	}
	if err != nil {
		return nil, fmt.Errorf("PORTAL_KEYRING: %w", err)
	}
	return kr, nil
}

// ensureDevKeyring creates a keyring at path if there is none, with its
// directory owner-only, so `make run` works on a fresh checkout. Production
// uses `portal keys init`, deliberately a separate step: silently creating
// a new keyring there would hide a missing one, and with it all data.
func ensureDevKeyring(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("dev keyring: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("dev keyring: %w", err)
	}
	if _, err := envelope.InitKeyring(path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("dev keyring: %w", err)
	}
	return nil
}
