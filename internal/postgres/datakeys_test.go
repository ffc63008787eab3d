package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// fixture is a migrated database with a keyring, a DataKeys store and a
// stand-in for the messaging tables (test_notes) where ciphertext is kept
// next to its data key id, as messaging will do.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	kr    *envelope.Keyring
	keys  *postgres.DataKeys
	owner postgres.Owner
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	kr := newKeyring(t)
	_, err := pool.Exec(ctx, `CREATE TABLE test_notes (
		id TEXT PRIMARY KEY, data_key_id UUID NOT NULL, body_ct BYTEA NOT NULL, title_ct BYTEA)`)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{
		t: t, ctx: ctx, pool: pool, kr: kr,
		keys:  postgres.NewDataKeys(pool, kr, 16, slog.New(slog.DiscardHandler)),
		owner: postgres.Owner{Kind: "note", ID: "n1", ThreadID: "t1"},
	}
}

func newKeyring(t *testing.T) *envelope.Keyring {
	t.Helper()
	kr, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "portal.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func noteBinding(rowID, column string) envelope.Binding {
	return envelope.Binding{Purpose: "note-body", Table: "test_notes", Column: column, RowID: rowID, ThreadID: "t1"}
}

func ownerOf(rowID string) postgres.Owner {
	return postgres.Owner{Kind: "note", ID: rowID, ThreadID: "t1"}
}

// sealNote stores plaintext as test_notes row rowID, the way messaging will:
// key and ciphertext in one transaction.
func (f *fixture) sealNote(rowID string, plaintext []byte) string {
	f.t.Helper()
	id, err := sealNote(f.ctx, f.pool, f.keys, rowID, plaintext)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func sealNote(ctx context.Context, pool *pgxpool.Pool, keys *postgres.DataKeys, rowID string, plaintext []byte) (string, error) {
	var id string
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var ct []byte
		var err error
		id, ct, err = keys.SealRecord(ctx, tx, ownerOf(rowID), noteBinding(rowID, "body_ct"), plaintext)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO test_notes (id, data_key_id, body_ct) VALUES ($1, $2, $3)`, rowID, id, ct)
		return err
	})
	return id, err
}

func openNote(ctx context.Context, pool *pgxpool.Pool, keys *postgres.DataKeys, rowID string) ([]byte, error) {
	var id string
	var ct []byte
	if err := pool.QueryRow(ctx, `SELECT data_key_id::text, body_ct FROM test_notes WHERE id = $1`, rowID).Scan(&id, &ct); err != nil {
		return nil, err
	}
	return keys.OpenRecord(ctx, pool, id, ownerOf(rowID), noteBinding(rowID, "body_ct"), ct)
}

func (f *fixture) openNote(rowID string) ([]byte, error) {
	return openNote(f.ctx, f.pool, f.keys, rowID)
}

func TestRecordRoundTripsThroughTheDatabase(t *testing.T) {
	f := newFixture(t)
	for i, pt := range [][]byte{{}, []byte("x"), []byte("Patient reports improvement after dose change."), bytes.Repeat([]byte("z"), 100_000)} {
		row := fmt.Sprintf("n%d", i)
		f.sealNote(row, pt)
		got, err := f.openNote(row)
		if err != nil {
			t.Fatalf("%d bytes: %v", len(pt), err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: round trip returned different plaintext", len(pt))
		}
	}
	// A second store has a cold cache: the read must unwrap from the row.
	cold := postgres.NewDataKeys(f.pool, f.kr, 1, nil)
	if got, err := openNote(f.ctx, f.pool, cold, "n2"); err != nil || string(got) != "Patient reports improvement after dose change." {
		t.Fatalf("cold cache: %q %v", got, err)
	}
}

func TestRecordCopiedToAnotherRowOrColumnFailsToOpen(t *testing.T) {
	f := newFixture(t)
	keyID := f.sealNote("n1", []byte("for n1 only"))
	f.sealNote("n2", []byte("for n2"))
	var ct []byte
	if err := f.pool.QueryRow(f.ctx, `SELECT body_ct FROM test_notes WHERE id = 'n1'`).Scan(&ct); err != nil {
		t.Fatal(err)
	}
	// An attacker with write access copies n1's ciphertext and key id into
	// n2's row, or into another column of n1.
	places := map[string]envelope.Binding{
		"another row":    noteBinding("n2", "body_ct"),
		"another column": noteBinding("n1", "title_ct"),
		"another thread": {Purpose: "note-body", Table: "test_notes", Column: "body_ct", RowID: "n1", ThreadID: "t2"},
	}
	for name, b := range places {
		pt, err := f.keys.OpenRecord(f.ctx, f.pool, keyID, ownerOf("n1"), b, ct)
		if !errors.Is(err, envelope.ErrAuth) || pt != nil {
			t.Errorf("%s: got %q, %v; want ErrAuth and no plaintext", name, pt, err)
		}
	}
	// The key itself is bound to its owner: claiming it for n2 fails, both
	// on a cold cache (wrap AAD) and a warm one (owner check).
	cold := postgres.NewDataKeys(f.pool, f.kr, 1, nil)
	warm := postgres.NewDataKeys(f.pool, f.kr, 16, nil)
	if _, err := warm.OpenRecord(f.ctx, f.pool, keyID, ownerOf("n1"), noteBinding("n1", "body_ct"), ct); err != nil {
		t.Fatal(err)
	}
	for name, keys := range map[string]*postgres.DataKeys{"cold cache": cold, "warm cache": warm} {
		_, err := keys.OpenRecord(f.ctx, f.pool, keyID, ownerOf("n2"), noteBinding("n1", "body_ct"), ct)
		if !errors.Is(err, envelope.ErrAuth) {
			t.Errorf("%s: key claimed by another owner: %v, want ErrAuth", name, err)
		}
	}
}

func TestRecordDoesNotOpenWithAnotherKeyring(t *testing.T) {
	f := newFixture(t)
	f.sealNote("n1", []byte("secret"))
	other := postgres.NewDataKeys(f.pool, newKeyring(t), 16, nil)
	pt, err := openNote(f.ctx, f.pool, other, "n1")
	if !errors.Is(err, envelope.ErrAuth) || pt != nil {
		t.Fatalf("other keyring: %q, %v; want ErrAuth", pt, err)
	}
}

func TestRecordUnderUnknownKEKVersionFailsTyped(t *testing.T) {
	f := newFixture(t)
	f.sealNote("n1", []byte("secret"))
	if _, err := f.pool.Exec(f.ctx, `UPDATE data_keys SET kek_version = 9`); err != nil {
		t.Fatal(err)
	}
	cold := postgres.NewDataKeys(f.pool, f.kr, 1, nil)
	if _, err := openNote(f.ctx, f.pool, cold, "n1"); !errors.Is(err, envelope.ErrUnknownKEKVersion) {
		t.Fatalf("err = %v, want ErrUnknownKEKVersion", err)
	}
}

func TestShreddedRecordReportsErrShredded(t *testing.T) {
	f := newFixture(t)
	keyID := f.sealNote("n1", []byte("to be withdrawn"))
	if _, err := f.openNote("n1"); err != nil { // warms the cache
		t.Fatal(err)
	}
	if err := f.keys.Shred(f.ctx, f.pool, strings.ToUpper(keyID)); err != nil {
		t.Fatal(err)
	}
	var left int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM data_keys`).Scan(&left)
	if left != 0 {
		t.Fatalf("%d data keys left after shredding", left)
	}
	pt, err := f.openNote("n1")
	if !errors.Is(err, envelope.ErrShredded) || pt != nil {
		t.Fatalf("after shredding: %q, %v; want ErrShredded", pt, err)
	}
	if err := f.keys.Shred(f.ctx, f.pool, keyID); err != nil {
		t.Errorf("shredding twice: %v, want nil", err)
	}
}

// A shredding on one instance reaches the DEK another instance holds in its
// cache: every open checks that the key's row still exists.
func TestShredReachesAnotherInstancesCache(t *testing.T) {
	f := newFixture(t)
	keyID := f.sealNote("n1", []byte("to be withdrawn"))
	var ct []byte
	f.pool.QueryRow(f.ctx, `SELECT body_ct FROM test_notes WHERE id = 'n1'`).Scan(&ct)
	rec := postgres.SealedRecord{DataKeyID: keyID, Owner: ownerOf("n1"), Binding: noteBinding("n1", "body_ct"), CT: ct}
	other := postgres.NewDataKeys(f.pool, f.kr, 16, nil)
	if _, err := openNote(f.ctx, f.pool, other, "n1"); err != nil { // warms the other instance's cache
		t.Fatal(err)
	}
	if err := f.keys.Shred(f.ctx, f.pool, keyID); err != nil {
		t.Fatal(err)
	}
	if pt, err := openNote(f.ctx, f.pool, other, "n1"); !errors.Is(err, envelope.ErrShredded) || pt != nil {
		t.Errorf("the other instance opened a shredded record from its cache: %q, %v", pt, err)
	}
	if got, err := other.OpenRecords(f.ctx, f.pool, []postgres.SealedRecord{rec}); err != nil || got[0] != nil {
		t.Errorf("the other instance's OpenRecords: %q, %v; want nil, nil (shredded)", got, err)
	}
}

func TestShredInRolledBackTransactionKeepsTheRecord(t *testing.T) {
	f := newFixture(t)
	keyID := f.sealNote("n1", []byte("kept"))
	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.keys.Shred(f.ctx, tx, keyID); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(f.ctx)
	if got, err := f.openNote("n1"); err != nil || string(got) != "kept" {
		t.Fatalf("after rolled-back shred: %q %v", got, err)
	}
}

func TestSealRecordInRolledBackTransactionLeavesNoKey(t *testing.T) {
	f := newFixture(t)
	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.keys.SealRecord(f.ctx, tx, f.owner, noteBinding("n1", "body_ct"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	tx.Rollback(f.ctx)
	var n int
	f.pool.QueryRow(f.ctx, `SELECT count(*) FROM data_keys`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d orphan data keys after rollback", n)
	}
}

func TestCheckKeyringNamesMissingVersion(t *testing.T) {
	f := newFixture(t)
	f.sealNote("n1", []byte("a"))
	if err := f.keys.CheckKeyring(f.ctx, f.kr); err != nil {
		t.Fatalf("complete keyring rejected: %v", err)
	}
	// The database references version 7, which this keyring never had.
	if _, err := f.pool.Exec(f.ctx, `UPDATE data_keys SET kek_version = 7`); err != nil {
		t.Fatal(err)
	}
	err := f.keys.CheckKeyring(f.ctx, f.kr)
	if !errors.Is(err, envelope.ErrUnknownKEKVersion) || !strings.Contains(err.Error(), "version(s) 7,") {
		t.Fatalf("err = %v, want one naming version 7", err)
	}
	if !strings.Contains(err.Error(), f.kr.Path()) {
		t.Errorf("error does not name the keyring file: %v", err)
	}
	refs, err := f.keys.ReferencedVersions(f.ctx)
	if err != nil || len(refs) != 1 || refs[0] != 7 {
		t.Errorf("ReferencedVersions = %v, %v; want [7]", refs, err)
	}
}

func TestRetireKEKIsRefusedWhileReferenced(t *testing.T) {
	f := newFixture(t)
	f.sealNote("n1", []byte("a"))
	if _, err := f.kr.Rotate(); err != nil {
		t.Fatal(err)
	}
	err := f.keys.RetireKEK(f.ctx, f.kr, 1)
	if !errors.Is(err, postgres.ErrKEKInUse) || !strings.Contains(err.Error(), "1 data key") {
		t.Fatalf("retire referenced version: %v, want ErrKEKInUse naming the count", err)
	}
	if !f.kr.Has(1) {
		t.Fatal("version 1 destroyed although refused")
	}
}

// A failed open is logged for investigation with the key id, owner kind and
// error class, and nothing that would leak the record: no plaintext, no
// owner id (it can identify a patient's message), no key bytes.
func TestOpenFailureIsLoggedWithoutSecrets(t *testing.T) {
	f := newFixture(t)
	keyID := f.sealNote("n-secret-owner", []byte("the plaintext body"))
	var logs bytes.Buffer
	keys := postgres.NewDataKeys(f.pool, f.kr, 4, slog.New(slog.NewJSONHandler(&logs, nil)))
	var ct []byte
	f.pool.QueryRow(f.ctx, `SELECT body_ct FROM test_notes`).Scan(&ct)
	ct[len(ct)-1] ^= 1
	if _, err := keys.OpenRecord(f.ctx, f.pool, keyID, ownerOf("n-secret-owner"), noteBinding("n-secret-owner", "body_ct"), ct); !errors.Is(err, envelope.ErrAuth) {
		t.Fatalf("tampered record: %v, want ErrAuth", err)
	}
	out := logs.String()
	for _, want := range []string{`"data_key_id":"` + keyID + `"`, `"owner_kind":"note"`, `"error_class":"auth"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
	for _, leak := range []string{"the plaintext body", "n-secret-owner"} {
		if strings.Contains(out, leak) {
			t.Errorf("log leaks %q: %s", leak, out)
		}
	}
}
