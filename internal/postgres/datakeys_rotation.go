package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/envelope"
)

// ErrKEKInUse reports an attempt to retire a KEK version that still wraps
// stored data keys: retiring it would destroy them.
var ErrKEKInUse = errors.New("postgres: datakeys: KEK version still in use")

// DefaultRewrapBatch is the batch size Rewrap uses when given none: large
// enough to amortise a transaction, small enough that the rows it locks are
// released within milliseconds.
const DefaultRewrapBatch = 500

// VersionCount is the number of stored data keys wrapped by one KEK version.
type VersionCount struct {
	Version uint32
	Count   int64
}

// Rewrap rewraps every data key whose KEK version is not the current one,
// batchSize keys per transaction, and returns how many it rewrapped. Only
// the 61-byte wrapped DEKs change; the data they protect is not touched.
//
// Each batch selects its rows FOR UPDATE SKIP LOCKED, so several rewrappers
// (a command and a River job) can run at once without waiting on each other,
// readers never block (they see the old or the new wrapping, both valid
// while the old KEK is decrypt-only), and a crash loses at most one batch's
// work. Running it again resumes. progress, if not nil, is called after each
// batch with the running total and an estimate of the keys still on other
// versions (counted once at the start: a count per batch would scan the
// table once per batch).
//
// A key that does not unwrap stops the run with an error naming it, rather
// than being skipped: silently leaving it behind would let the old KEK be
// retired under it.
func (d *DataKeys) Rewrap(ctx context.Context, batchSize int, progress func(done, remaining int64)) (int64, error) {
	if batchSize < 1 {
		batchSize = DefaultRewrapBatch
	}
	var done int64
	remaining, err := d.countNotOn(ctx, d.kek.CurrentVersion())
	if err != nil {
		return 0, err
	}
	for {
		current := d.kek.CurrentVersion()
		var n int64
		err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			var err error
			n, err = d.rewrapBatch(ctx, tx, current, batchSize)
			return err
		})
		if err != nil {
			return done, err
		}
		done += n
		remaining = max(0, remaining-n)
		if progress != nil {
			progress(done, remaining)
		}
		// A short batch means nothing else was there for us: the keys left,
		// if any, are locked by another rewrapper, which will finish them
		// (and a later run would pick up any leftovers).
		if n < int64(batchSize) {
			return done, nil
		}
	}
}

func (d *DataKeys) rewrapBatch(ctx context.Context, tx pgx.Tx, current uint32, batchSize int) (int64, error) {
	keys, err := loadKeyRows(ctx, tx, `kek_version <> $1 LIMIT $2 FOR UPDATE SKIP LOCKED`, int64(current), batchSize)
	if err != nil {
		return 0, fmt.Errorf("postgres: datakeys: rewrap: select: %w", err)
	}
	batch := &pgx.Batch{}
	for _, k := range keys {
		version, wrapped, err := d.rewrapOne(k)
		if err != nil {
			return 0, err
		}
		batch.Queue(`UPDATE data_keys SET kek_version = $2, wrapped = $3 WHERE id = $1`, k.id, int64(version), wrapped)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return 0, fmt.Errorf("postgres: datakeys: rewrap: update: %w", err)
	}
	return int64(len(keys)), nil
}

// rewrapOne unwraps k under its KEK version and wraps the same DEK under
// the current one, with the same AAD (id and owner do not change).
func (d *DataKeys) rewrapOne(k keyRow) (uint32, []byte, error) {
	owner := Owner{Kind: k.kind, ID: k.ownerID}
	aad := envelope.WrapAAD(k.id, k.kind, k.ownerID)
	dek, err := d.kek.Unwrap(uint32(k.version), aad, k.wrapped)
	if err != nil {
		d.logFailure("rewrap", k.id, owner, err)
		return 0, nil, fmt.Errorf("postgres: datakeys: rewrap: data key %s (KEK version %d) does not unwrap: %w", k.id, k.version, err)
	}
	version, wrapped, err := d.kek.Wrap(aad, dek)
	if err != nil {
		return 0, nil, fmt.Errorf("postgres: datakeys: rewrap: wrap data key %s: %w", k.id, err)
	}
	return version, wrapped, nil
}

func (d *DataKeys) countNotOn(ctx context.Context, version uint32) (int64, error) {
	var n int64
	err := d.pool.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE kek_version <> $1`, int64(version)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: datakeys: count keys to rewrap: %w", err)
	}
	return n, nil
}

// Status returns how many data keys each KEK version wraps, in ascending
// version order. Versions that wrap nothing are absent.
func (d *DataKeys) Status(ctx context.Context) ([]VersionCount, error) {
	rows, err := d.pool.Query(ctx, `
		SELECT kek_version, count(*) FROM data_keys
		GROUP BY kek_version ORDER BY kek_version`)
	if err != nil {
		return nil, fmt.Errorf("postgres: datakeys: status: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (VersionCount, error) {
		var v int64
		var c VersionCount
		err := r.Scan(&v, &c.Count)
		c.Version = uint32(v)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: datakeys: status: %w", err)
	}
	return out, nil
}

// ReferencedVersions lists the KEK versions that stored data keys need.
func (d *DataKeys) ReferencedVersions(ctx context.Context) ([]uint32, error) {
	counts, err := d.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, len(counts))
	for i, c := range counts {
		out[i] = c.Version
	}
	return out, nil
}

// CheckKeyring fails, naming every missing version and how many keys need
// it, when the database references a KEK version that kr cannot unwrap
// with (absent or retired). The portal refuses to start in that state: it
// means the wrong or an outdated keyring file was deployed, and serving
// would turn every affected record into an error page.
func (d *DataKeys) CheckKeyring(ctx context.Context, kr *envelope.Keyring) error {
	return d.CheckKEKs(ctx, kr, "keyring "+kr.Path())
}

// KEKSet is what holds KEK versions: a keyring, an HSM token (with the
// keyring it is moving from).
type KEKSet interface {
	Has(version uint32) bool
}

// CheckKEKs is CheckKeyring for any set of KEKs, named by where in the
// error.
func (d *DataKeys) CheckKEKs(ctx context.Context, set KEKSet, where string) error {
	counts, err := d.Status(ctx)
	if err != nil {
		return err
	}
	var missing []string
	var keys int64
	for _, c := range counts {
		if !set.Has(c.Version) {
			missing = append(missing, strconv.FormatUint(uint64(c.Version), 10))
			keys += c.Count
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("postgres: datakeys: %s lacks KEK version(s) %s, still needed by %d stored data key(s); deploy the keys that hold them: %w",
		where, strings.Join(missing, ", "), keys, envelope.ErrUnknownKEKVersion)
}

// Retirer destroys a KEK version: envelope.Keyring, hsm.Provider.
type Retirer interface {
	Retire(version uint32) error
}

// RetireKEK retires KEK version v in kr (destroying its key material in the
// keyring file) only if no stored data key references it. The check and the
// retirement happen while data_keys is locked against writes (SHARE mode:
// readers carry on), so no key can be wrapped under v, or rewrapped back to
// it, between the count and the file change. The error wraps ErrKEKInUse
// and names the count when v is still needed.
func (d *DataKeys) RetireKEK(ctx context.Context, kr Retirer, v uint32) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE data_keys IN SHARE MODE`); err != nil {
			return fmt.Errorf("postgres: datakeys: retire: lock: %w", err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE kek_version = $1`, int64(v)).Scan(&n); err != nil {
			return fmt.Errorf("postgres: datakeys: retire: count: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("postgres: datakeys: KEK version %d still wraps %d data key(s); run `portal keys rewrap` first: %w", v, n, ErrKEKInUse)
		}
		if err := kr.Retire(v); err != nil {
			return fmt.Errorf("postgres: datakeys: retire: %w", err)
		}
		return nil
	})
}
