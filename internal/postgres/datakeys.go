package postgres

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/healthnet/secureportal/internal/envelope"
)

// Querier is what DataKeys needs to run a statement: both pgx.Tx and
// *pgxpool.Pool satisfy it, so callers read inside their own transaction
// when they have one and straight from the pool when they do not.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Owner names what a data key protects. Kind and ID are bound into the
// wrap's associated data (envelope.WrapAAD), so a wrapped DEK copied onto
// another owner's data_keys row does not unwrap. ThreadID is stored so that
// a whole thread's keys can be found (and shredded) together; it is not part
// of the wrap AAD because the record's Binding already carries it.
type Owner struct {
	Kind     string // e.g. "message", "attachment"
	ID       string // the owning row's immutable id
	ThreadID string // the owning thread, or ""
}

// DataKeys stores wrapped data-encryption keys (table data_keys) and
// encrypted streams (table data_chunks), and seals and opens the records and
// attachments they protect. It is the only code that sees unwrapped DEKs;
// messaging stores ciphertext in its own columns next to the data key id.
//
// A DataKeys is safe for concurrent use.
type DataKeys struct {
	pool  *pgxpool.Pool
	kek   envelope.KEKProvider
	cache *envelope.DEKCache
	log   *slog.Logger
	// blobs, when set, receives new streams as objects instead of
	// data_chunks rows (PORTAL_BLOB_URL=s3://).
	blobs BlobStore
}

// NewDataKeys returns a store that wraps new DEKs with kek and keeps up to
// cacheSize unwrapped DEKs in memory, so that re-reading a thread does not
// cost a KEK unwrap per record (a network call once the KEK is in a KMS).
func NewDataKeys(pool *pgxpool.Pool, kek envelope.KEKProvider, cacheSize int, log *slog.Logger) *DataKeys {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DataKeys{pool: pool, kek: kek, cache: envelope.NewDEKCache(cacheSize), log: log}
}

// SealRecord encrypts plaintext under a fresh DEK bound to b, and inserts
// the wrapped DEK in tx, the caller's transaction: the key and the row that
// holds the ciphertext then commit or roll back together, so there is never
// a ciphertext without its key (or an orphan key). The caller stores ct and
// dataKeyID in its own row; ct is never written here.
//
// One DEK per record (not per thread) is what lets a single message be
// shredded without touching its neighbours.
func (d *DataKeys) SealRecord(ctx context.Context, tx pgx.Tx, owner Owner, b envelope.Binding, plaintext []byte) (dataKeyID string, ct []byte, err error) {
	id, dek, err := d.newDataKey(ctx, tx, owner)
	if err != nil {
		return "", nil, err
	}
	ct, err = envelope.Seal(dek, b, plaintext)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: datakeys: seal record: %w", err)
	}
	return id, ct, nil
}

// OpenRecord decrypts a record sealed by SealRecord. The data_keys row is
// read every time, even when the DEK is cached, because its absence is how
// a shredding done by another process (or by a recall) becomes visible:
// a missing row gives envelope.ErrShredded. Any other failure (wrong owner,
// wrong Binding, tampering, unknown KEK version) gives the envelope error
// (ErrAuth, ErrMalformed, ErrUnknownKEKVersion) and never plaintext.
func (d *DataKeys) OpenRecord(ctx context.Context, q Querier, dataKeyID string, owner Owner, b envelope.Binding, ct []byte) ([]byte, error) {
	dek, err := d.dek(ctx, q, dataKeyID, owner)
	if err != nil {
		return nil, err
	}
	pt, err := envelope.Open(dek, b, ct)
	if err != nil {
		d.logFailure("open record", dataKeyID, owner, err)
		return nil, fmt.Errorf("postgres: datakeys: open record: %w", err)
	}
	return pt, nil
}

// Shred deletes a data key, and with it (ON DELETE CASCADE) any stream
// chunks, then forgets the DEK in this process's cache. From then on the
// data it protected cannot be decrypted from the live database by anyone.
//
// What shredding does not reach: database backups taken earlier still hold
// the wrapped DEK, and whoever has such a backup and the KEK version that
// wrapped it can recover the data. The data is gone everywhere only once
// that KEK version has been rotated away, rewrapped, retired (`portal keys
// retire`) and every copy of the old keyring file destroyed. Other portal
// processes may hold the DEK in their caches, but they cannot use it:
// OpenRecord and OpenStream check the row first.
//
// Shredding a key that does not exist is not an error: the outcome the
// caller wants already holds.
func (d *DataKeys) Shred(ctx context.Context, q Querier, dataKeyID string) error {
	_, err := d.ShredAll(ctx, q, []string{dataKeyID})
	return err
}

// ShredReturned runs deleteSQL, a DELETE of records that returns the ids of
// their data keys, in tx, and shreds each of those keys with it: records
// and keys go together. It returns how many keys were shredded.
func (d *DataKeys) ShredReturned(ctx context.Context, tx pgx.Tx, deleteSQL string, args ...any) (int, error) {
	rows, err := tx.Query(ctx, deleteSQL, args...)
	if err != nil {
		return 0, err
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	return d.ShredAll(ctx, tx, keys)
}

// ShredAll shreds each of ids as Shred does, in one statement, and returns
// how many keys it destroyed: a key already gone (another transaction
// shredded it first) is not counted, so reports and audit entries that
// add these counts never count a key twice.
func (d *DataKeys) ShredAll(ctx context.Context, q Querier, ids []string) (int, error) {
	// RETURNING gives the canonical id text, which is what the cache is
	// keyed by, whatever spelling of the UUID the caller passed.
	rows, err := q.Query(ctx, `DELETE FROM data_keys WHERE id = ANY($1::uuid[]) RETURNING id::text`, ids)
	if err != nil {
		return 0, fmt.Errorf("postgres: datakeys: shred: %w", err)
	}
	gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("postgres: datakeys: shred: %w", err)
	}
	for _, id := range gone {
		d.cache.Delete(id)
	}
	return len(gone), nil
}

// newDataKey creates, wraps and inserts a DEK for owner. The wrap AAD names
// the new id and the owner, so the wrapped bytes only unwrap on this row.
func (d *DataKeys) newDataKey(ctx context.Context, tx pgx.Tx, owner Owner) (string, envelope.DEK, error) {
	if owner.Kind == "" || owner.ID == "" {
		return "", envelope.DEK{}, errors.New("postgres: datakeys: owner kind and id are required")
	}
	id, err := newUUID()
	if err != nil {
		return "", envelope.DEK{}, err
	}
	dek, version, wrapped, err := envelope.NewWrappedDEK(d.kek, envelope.WrapAAD(id, owner.Kind, owner.ID))
	if err != nil {
		return "", envelope.DEK{}, fmt.Errorf("postgres: datakeys: new DEK: %w", err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO data_keys (id, owner_kind, owner_id, thread_id, kek_version, wrapped)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		id, owner.Kind, owner.ID, owner.ThreadID, int64(version), wrapped)
	if err != nil {
		return "", envelope.DEK{}, fmt.Errorf("postgres: datakeys: insert data key: %w", err)
	}
	// Deliberately not cached: the transaction may still roll back, and a
	// cached key for a row that never existed would outlive it.
	return id, dek, nil
}

// dek returns the unwrapped DEK of dataKeyID for owner, from the cache when
// possible. The row is always read (see OpenRecord) and its owner compared,
// so a cache hit can never bypass the owner binding that the wrap AAD
// enforces on a miss.
func (d *DataKeys) dek(ctx context.Context, q Querier, dataKeyID string, owner Owner) (envelope.DEK, error) {
	keys, err := loadKeyRows(ctx, q, `id = $1`, dataKeyID)
	if err != nil {
		return envelope.DEK{}, fmt.Errorf("postgres: datakeys: load data key: %w", err)
	}
	if len(keys) == 0 {
		d.logFailure("load data key", dataKeyID, owner, envelope.ErrShredded)
		return envelope.DEK{}, fmt.Errorf("postgres: datakeys: data key %s: %w", dataKeyID, envelope.ErrShredded)
	}
	return d.unwrapRow(keys[0], owner)
}

// keyRow is a data_keys row as read for unwrapping or rewrapping.
type keyRow struct {
	id, kind, ownerID string
	version           int64
	wrapped           []byte
}

// loadKeyRows reads the data_keys rows that cond selects: a WHERE condition
// over args, with whatever may follow it (LIMIT, FOR UPDATE). It is the one
// query that reads wrapped DEKs by themselves; a record's own query may join
// them instead (keyColumns, openJoined).
func loadKeyRows(ctx context.Context, q Querier, cond string, args ...any) ([]keyRow, error) {
	rows, err := q.Query(ctx, `SELECT id::text, owner_kind, owner_id, kek_version, wrapped FROM data_keys WHERE `+cond, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyRow, error) {
		var k keyRow
		err := r.Scan(&k.id, &k.kind, &k.ownerID, &k.version, &k.wrapped)
		return k, err
	})
}

// dataKeyExists reports whether a data key is still stored: its absence is
// how a shredding (recall, retention), here or in another process, shows.
func dataKeyExists(ctx context.Context, q Querier, dataKeyID string) (bool, error) {
	var exists bool
	err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM data_keys WHERE id = $1)`, dataKeyID).Scan(&exists)
	return exists, err
}

// unwrapRow returns the DEK of a row just read, for owner: from the cache
// when possible (after comparing the row's owner), else by unwrapping.
func (d *DataKeys) unwrapRow(k keyRow, owner Owner) (envelope.DEK, error) {
	return d.unwrap(k, owner, true)
}

// unwrap is unwrapRow; remember=false leaves the cache as it was (a key
// unwrapped once for a search).
func (d *DataKeys) unwrap(k keyRow, owner Owner, remember bool) (envelope.DEK, error) {
	if dek, ok := d.cache.Get(k.id); ok {
		if k.kind != owner.Kind || k.ownerID != owner.ID {
			d.logFailure("unwrap", k.id, owner, envelope.ErrAuth)
			return envelope.DEK{}, fmt.Errorf("postgres: datakeys: data key %s belongs to another owner: %w", k.id, envelope.ErrAuth)
		}
		return dek, nil
	}
	// The owner checked here is the caller's, not the row's: the wrap AAD
	// proves the row was written for that owner.
	dek, err := d.kek.Unwrap(uint32(k.version), envelope.WrapAAD(k.id, owner.Kind, owner.ID), k.wrapped)
	if err != nil {
		d.logFailure("unwrap", k.id, owner, err)
		return envelope.DEK{}, fmt.Errorf("postgres: datakeys: unwrap data key %s: %w", k.id, err)
	}
	if remember {
		d.cache.Put(k.id, dek)
	}
	return dek, nil
}

// SealedRecord is one record to open with OpenRecords.
type SealedRecord struct {
	DataKeyID string
	Owner     Owner
	Binding   envelope.Binding
	CT        []byte
}

// OpenRecords opens many records with one query for their keys, instead of
// one round trip each (an inbox page of subjects, a thread's bodies). The
// result has one entry per record, in order: the plaintext, or nil when the
// record was shredded. Any other failure fails the whole call, as
// OpenRecord would.
func (d *DataKeys) OpenRecords(ctx context.Context, q Querier, recs []SealedRecord) ([][]byte, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.DataKeyID
	}
	keys, err := loadKeyRows(ctx, q, `id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: datakeys: load data keys: %w", err)
	}
	found := make(map[string]keyRow, len(keys))
	for _, k := range keys {
		found[k.id] = k
	}
	return d.openAll(recs, func(i int) (keyRow, bool) {
		k, ok := found[strings.ToLower(recs[i].DataKeyID)]
		return k, ok
	})
}

// joinedKey is a record's data key read by the record's own query, which
// joins data_keys as dk and selects keyColumns; scan into dest. All NULL:
// the key was shredded.
type joinedKey struct {
	id, kind, ownerID *string
	version           *int64
	wrapped           []byte
}

// keyColumns are the data_keys columns (alias dk) a query selects for
// joinedKey, so that records come with their keys in one round trip.
const keyColumns = `dk.id::text, dk.owner_kind, dk.owner_id, dk.kek_version, dk.wrapped`

// dest is the scan destination of keyColumns.
func (j *joinedKey) dest() []any { return []any{&j.id, &j.kind, &j.ownerID, &j.version, &j.wrapped} }

// openJoined opens records whose keys their own query read (keys[i] is
// recs[i]'s), as OpenRecords does without its query for the keys: the
// inbox saves a round trip per page.
func (d *DataKeys) openJoined(recs []SealedRecord, keys []joinedKey) ([][]byte, error) {
	return d.openAll(recs, func(i int) (keyRow, bool) { return keys[i].row() })
}

// row is the key as read; false when the join found none (shredded).
func (j joinedKey) row() (keyRow, bool) {
	if j.id == nil || j.kind == nil || j.ownerID == nil || j.version == nil {
		return keyRow{}, false
	}
	return keyRow{id: *j.id, kind: *j.kind, ownerID: *j.ownerID, version: *j.version, wrapped: j.wrapped}, true
}

// openAll opens each record with the key keyOf gives (false: shredded, nil
// in the result).
func (d *DataKeys) openAll(recs []SealedRecord, keyOf func(i int) (keyRow, bool)) ([][]byte, error) {
	out := make([][]byte, len(recs))
	for i, r := range recs {
		k, ok := keyOf(i)
		if !ok {
			continue // shredded
		}
		pt, err := d.openOne(r, k, true)
		if err != nil {
			return nil, err
		}
		out[i] = pt
	}
	return out, nil
}

// openOne opens record r with its key row k.
func (d *DataKeys) openOne(r SealedRecord, k keyRow, remember bool) ([]byte, error) {
	dek, err := d.unwrap(k, r.Owner, remember)
	if err != nil {
		return nil, err
	}
	pt, err := envelope.Open(dek, r.Binding, r.CT)
	if err != nil {
		d.logFailure("open record", r.DataKeyID, r.Owner, err)
		return nil, fmt.Errorf("postgres: datakeys: open record: %w", err)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

// openEach opens records whose keys their own query read (as openJoined)
// on up to workers goroutines, and hands each plaintext to use (nil:
// shredded) on the goroutine that opened it; use must be safe for that.
// The keys it unwraps stay out of the cache: a search reads thousands of
// records once and would evict the keys of the pages people are reading.
// The first failure ends the call.
func (d *DataKeys) openEach(recs []SealedRecord, keys []joinedKey, workers int, use func(i int, pt []byte)) error {
	var g errgroup.Group
	per := max(1, (len(recs)+workers-1)/max(1, workers))
	for lo := 0; lo < len(recs); lo += per {
		hi := min(lo+per, len(recs))
		g.Go(func() error {
			for i := lo; i < hi; i++ {
				k, ok := keys[i].row()
				if !ok {
					use(i, nil)
					continue
				}
				pt, err := d.openOne(recs[i], k, false)
				if err != nil {
					return err
				}
				use(i, pt)
			}
			return nil
		})
	}
	return g.Wait()
}

// logFailure records a failed unwrap or open for investigation: which key,
// what kind of owner, and the class of failure. Never the error text of
// lower layers verbatim beyond its class, never key material or plaintext,
// and not the owner id (it may identify a patient's message).
func (d *DataKeys) logFailure(op, dataKeyID string, owner Owner, err error) {
	level := slog.LevelWarn
	if errors.Is(err, envelope.ErrShredded) {
		level = slog.LevelInfo // expected after a recall; not an incident
	}
	d.log.Log(context.Background(), level, "datakeys: "+op+" failed",
		"data_key_id", dataKeyID, "owner_kind", owner.Kind, "error_class", errorClass(err))
}

// errorClass names the envelope sentinel err wraps, for logs and metrics.
func errorClass(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{envelope.ErrShredded, "shredded"},
		{envelope.ErrAuth, "auth"},
		{envelope.ErrTruncated, "truncated"},
		{envelope.ErrMalformed, "malformed"},
		{envelope.ErrUnknownKEKVersion, "unknown_kek_version"},
		{ErrTooLarge, "too_large"},
	} {
		if errors.Is(err, c.err) {
			return c.name
		}
	}
	return "other"
}

// newUUID returns a random (version 4) UUID in canonical lowercase form. It
// is generated here rather than by the database because the wrap AAD needs
// it before the row is inserted.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("postgres: datakeys: generate id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}
