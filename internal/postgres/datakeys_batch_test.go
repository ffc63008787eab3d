package postgres_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

// OpenRecords opens what OpenRecord would, in order, with one query: a
// shredded record comes back nil, a record under the wrong owner or binding
// fails the call.
func TestOpenRecordsMatchesOpenRecord(t *testing.T) {
	f := newFixture(t)
	var recs []postgres.SealedRecord
	var want [][]byte
	for i := range 5 {
		row := fmt.Sprintf("b%d", i)
		pt := []byte("note number " + row)
		id := f.sealNote(row, pt)
		var ct []byte
		f.pool.QueryRow(f.ctx, `SELECT body_ct FROM test_notes WHERE id = $1`, row).Scan(&ct)
		recs = append(recs, postgres.SealedRecord{DataKeyID: id, Owner: ownerOf(row), Binding: noteBinding(row, "body_ct"), CT: ct})
		want = append(want, pt)
	}
	if err := f.keys.Shred(f.ctx, f.pool, recs[2].DataKeyID); err != nil {
		t.Fatal(err)
	}
	cold := postgres.NewDataKeys(f.pool, f.kr, 16, nil) // unwraps from the rows
	for name, keys := range map[string]*postgres.DataKeys{"warm cache": f.keys, "cold cache": cold} {
		got, err := keys.OpenRecords(f.ctx, f.pool, recs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range recs {
			switch {
			case i == 2 && got[i] != nil:
				t.Errorf("%s: shredded record opened", name)
			case i != 2 && !bytes.Equal(got[i], want[i]):
				t.Errorf("%s: record %d = %q, want %q", name, i, got[i], want[i])
			}
		}
	}

	swapped := append([]postgres.SealedRecord(nil), recs...)
	swapped[0].CT, swapped[1].CT = recs[1].CT, recs[0].CT // ciphertexts moved between rows
	if _, err := f.keys.OpenRecords(f.ctx, f.pool, swapped); !errors.Is(err, envelope.ErrAuth) {
		t.Errorf("swapped ciphertexts: %v, want ErrAuth", err)
	}
	foreign := append([]postgres.SealedRecord(nil), recs...)
	foreign[0].Owner = ownerOf("b1") // another row's owner
	if _, err := cold.OpenRecords(f.ctx, f.pool, foreign); !errors.Is(err, envelope.ErrAuth) {
		t.Errorf("foreign owner: %v, want ErrAuth", err)
	}
}
