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
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/hsm"
	"github.com/healthnet/secureportal/internal/postgres"
)

const keysUsage = `Usage: portal keys <command>

Commands:
  init                create the keyring at PORTAL_KEYRING (mode 0600), or with PORTAL_KEK_PROVIDER=pkcs11
                      the first KEK on the token; never overwrites one
  rotate              add a KEK version and make it the one new data keys are wrapped with
  rewrap [--batch N]  rewrap every data key to the current KEK version (resumable; default N 500)
  status              list KEK versions, their state and how many data keys each wraps
  retire V            destroy KEK version V; refused while any data key still uses it
  migrate-to-hsm      with PORTAL_KEK_PROVIDER=pkcs11 and the keyring still at PORTAL_KEYRING: make the
                      token's first KEK, numbered after the keyring's; then restart the portals and rewrap
  migrate-to-keyring  the way back: with PORTAL_KEK_PROVIDER=keyring and PORTAL_PKCS11_* still set, make
                      the keyring's next KEK (creating the file if needed), numbered after the token's

Rotation: rotate, wait a minute (running portals re-read the keyring or token), rewrap, then retire the old version.
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
	case "migrate-to-hsm":
		if _, err := keysArgs(sub, rest, 0, nil); err != nil {
			return err
		}
		return keysMigrateToHSM(getenv, stdout)
	case "migrate-to-keyring":
		if _, err := keysArgs(sub, rest, 0, nil); err != nil {
			return err
		}
		return keysMigrateToKeyring(getenv, stdout)
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
	kc, err := config.KEKSettings(getenv)
	if err != nil {
		return err
	}
	path := config.KeyringPath(getenv)
	if kc.Provider == "pkcs11" {
		return tokenInit(kc, path, stdout)
	}
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

// tokenInit makes the first KEK of a new deployment on the HSM token.
func tokenInit(kc config.KEK, keyringPath string, stdout io.Writer) error {
	k, err := loadKEKs(kc, keyringPath)
	if err != nil {
		return err
	}
	defer k.close()
	switch {
	case k.token.CurrentVersion() > 0:
		return fmt.Errorf("keys init: token %q already holds KEK version %d; nothing was changed", kc.PKCS11TokenLabel, k.token.CurrentVersion())
	case k.keyring != nil:
		return fmt.Errorf("keys init: a keyring exists at PORTAL_KEYRING %s; to move its data keys to the token run `portal keys migrate-to-hsm`", keyringPath)
	}
	v, err := k.token.Rotate(0)
	if err != nil {
		return fmt.Errorf("keys init: %w", err)
	}
	fmt.Fprintf(stdout, "created KEK version %d on token %q (AES-256, not extractable)\n", v, kc.PKCS11TokenLabel)
	fmt.Fprintln(stdout, "Back up the token as its vendor says: without it no data key, and no backup, can be read.")
	return nil
}

// keysMigrateToHSM starts the move from the keyring file to the token:
// the token's first KEK, numbered after the keyring's versions. Data keys
// move by rewrap; the keyring stays readable until they have.
func keysMigrateToHSM(getenv func(string) string, stdout io.Writer) error {
	kc, err := config.KEKSettings(getenv)
	if err != nil {
		return err
	}
	if kc.Provider != "pkcs11" {
		return errors.New("keys migrate-to-hsm: set PORTAL_KEK_PROVIDER=pkcs11 and PORTAL_PKCS11_* for the token first")
	}
	path := config.KeyringPath(getenv)
	k, err := loadKEKs(kc, path)
	if err != nil {
		return err
	}
	defer k.close()
	if k.keyring == nil {
		return fmt.Errorf("keys migrate-to-hsm: no keyring at PORTAL_KEYRING %s to move from (a new deployment uses `portal keys init`)", path)
	}
	if v := k.token.CurrentVersion(); v > 0 {
		fmt.Fprintf(stdout, "token %q already holds KEK version %d; run `portal keys rewrap` to move the remaining data keys to it\n", kc.PKCS11TokenLabel, v)
		return nil
	}
	v, err := k.token.Rotate(k.newest())
	if err != nil {
		return fmt.Errorf("keys migrate-to-hsm: %w", err)
	}
	fmt.Fprintf(stdout, "created KEK version %d on token %q; the keyring's versions stay readable through PORTAL_KEYRING\n", v, kc.PKCS11TokenLabel)
	fmt.Fprintln(stdout, "Next: restart every portal with PORTAL_KEK_PROVIDER=pkcs11 (an instance still on the keyring cannot read keys the token wraps), "+
		"run `portal keys rewrap`, then `portal keys retire` each keyring version; after that PORTAL_KEYRING is no longer needed.")
	return nil
}

// keysMigrateToKeyring starts the move from the token back to a keyring
// file: the keyring's next KEK, numbered after the token's versions. The
// token stays readable (PORTAL_PKCS11_*) until rewrap has moved every
// data key.
func keysMigrateToKeyring(getenv func(string) string, stdout io.Writer) error {
	kc, err := config.KEKSettings(getenv)
	if err != nil {
		return err
	}
	if kc.Provider != "keyring" || kc.PKCS11Module == "" {
		return errors.New("keys migrate-to-keyring: set PORTAL_KEK_PROVIDER=keyring and keep PORTAL_PKCS11_* naming the token to move from")
	}
	path := config.KeyringPath(getenv)
	token, err := hsm.OpenDecryptOnly(tokenConfig(kc))
	if err != nil {
		return err
	}
	defer token.Close()
	after := token.CurrentVersion()
	var v uint32
	if _, statErr := os.Stat(path); statErr == nil {
		kr, err := loadKeyring(path)
		if err != nil {
			return err
		}
		v, err = kr.RotateAfter(after)
		if err != nil {
			return fmt.Errorf("keys migrate-to-keyring: %w", err)
		}
	} else {
		if _, err := envelope.InitKeyringAt(path, after+1); err != nil {
			return fmt.Errorf("keys migrate-to-keyring: PORTAL_KEYRING %s: %w", path, err)
		}
		v = after + 1
	}
	fmt.Fprintf(stdout, "KEK version %d is active in keyring %s; the token's versions stay readable through PORTAL_PKCS11_*\n", v, path)
	fmt.Fprintln(stdout, "Next: back the keyring up, restart every portal with PORTAL_KEK_PROVIDER=keyring (keeping PORTAL_PKCS11_*), "+
		"run `portal keys rewrap`, then `portal keys retire` each token version; after that PORTAL_PKCS11_* is no longer needed.")
	return nil
}

func keysRotate(getenv func(string) string, stdout io.Writer) error {
	kc, err := config.KEKSettings(getenv)
	if err != nil {
		return err
	}
	path := config.KeyringPath(getenv)
	if kc.Provider == "pkcs11" {
		k, err := loadKEKs(kc, path)
		if err != nil {
			return err
		}
		defer k.close()
		old := k.token.CurrentVersion()
		v, err := k.token.Rotate(k.newest())
		if err != nil {
			return fmt.Errorf("keys rotate: %w", err)
		}
		fmt.Fprintf(stdout, "KEK version %d is now active on token %q; version %d is decrypt-only.\n", v, kc.PKCS11TokenLabel, old)
		fmt.Fprintln(stdout, "Next: wait a minute (running portals look at the token again and wrap new keys with the new version), then run `portal keys rewrap`.")
		return nil
	}
	k, err := loadKEKs(kc, path)
	if err != nil {
		return err
	}
	defer k.close()
	old := k.keyring.CurrentVersion()
	v, err := k.keyring.RotateAfter(k.newest())
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
	k, err := openKEKs(ctx, cfg, pool)
	if err != nil {
		return err
	}
	defer k.close()
	keys := postgres.NewDataKeys(pool, k.provider, 1, log)
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
	fmt.Fprintf(stdout, "every data key is wrapped by KEK version %d\n", k.provider.CurrentVersion())
	return nil
}

func keysStatus(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, log, pool, _, err := setup(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Not openKEKs: status must still work, and show the gap, when the
	// keys lack a version the database needs.
	k, err := loadKEKs(cfg.KEK, cfg.KeyringPath)
	if err != nil {
		return err
	}
	defer k.close()
	counts, err := postgres.NewDataKeys(pool, k.provider, 1, log).Status(ctx)
	if err != nil {
		return err
	}
	writeStatus(stdout, k.versions(), counts)
	return nil
}

// versions lists the keyring's versions and then the token's; beside a
// token, the keyring's are decrypt-only whatever the file says.
func (k *keks) versions() []envelope.KeyInfo {
	var out []envelope.KeyInfo
	if k.keyring != nil {
		for _, v := range k.keyring.Versions() {
			if k.onToken() && v.State == envelope.KeyActive {
				v.State = envelope.KeyDecryptOnly
			}
			out = append(out, v)
		}
	}
	if k.token != nil {
		out = append(out, k.token.Versions()...)
	}
	return out
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
		created := "- (on the token)"
		if !v.CreatedAt.IsZero() {
			created = v.CreatedAt.UTC().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\n", v.Version, v.State, created, byVersion[v.Version])
		delete(byVersion, v.Version)
	}
	for _, c := range counts {
		if n, ok := byVersion[c.Version]; ok {
			fmt.Fprintf(tw, "%d\tMISSING from the keys\t-\t%d\n", c.Version, n)
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
	k, err := loadKEKs(cfg.KEK, cfg.KeyringPath)
	if err != nil {
		return err
	}
	defer k.close()
	var holder postgres.Retirer = k.keyring
	where := cfg.KeyringPath
	switch {
	case k.token != nil && slices.ContainsFunc(k.token.Versions(), func(i envelope.KeyInfo) bool { return i.Version == v }):
		holder, where = k.token, "token "+cfg.KEK.PKCS11TokenLabel
	case k.keyring == nil:
		return fmt.Errorf("keys retire: KEK version %d is not on the token and there is no keyring", v)
	case k.onToken():
		holder = leftKeyring{k.keyring}
	}
	if err := postgres.NewDataKeys(pool, k.provider, 1, log).RetireKEK(ctx, holder, v); err != nil {
		return fmt.Errorf("keys retire: %w", err)
	}
	fmt.Fprintf(stdout, "KEK version %d retired: its key material is gone from %s.\n", v, where)
	fmt.Fprintln(stdout, "Destroy older copies of the keyring file (or token backups) too: until then, data shredded before the rotation can still be read from database backups.")
	return nil
}

// leftKeyring is the keyring a deployment moved to the token from: its
// last version, the one the file calls active, is retired by deleting the
// file, once every other version is retired (a keyring with no active
// version is not a keyring; nothing wraps with it any more anyway).
type leftKeyring struct{ *envelope.Keyring }

func (l leftKeyring) Retire(v uint32) error {
	if v != l.CurrentVersion() {
		return l.Keyring.Retire(v)
	}
	for _, info := range l.Versions() {
		if info.Version != v && info.State != envelope.KeyRetired {
			return fmt.Errorf("retire the keyring's other versions first (version %d is %s)", info.Version, info.State)
		}
	}
	if err := os.Remove(l.Path()); err != nil {
		return fmt.Errorf("delete the keyring file: %w", err)
	}
	return nil
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
