package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/postgres"
)

// The whole rotation procedure under load: rotate, rewrap while other
// goroutines keep sealing and opening records, then retire the old version.
// Nothing may fail at any point, and afterwards every key is on the new
// version and every record still opens without the old KEK.
func TestRotateAndRewrapWhileReadingAndWritingLosesNothing(t *testing.T) {
	f := newFixture(t)
	// A tiny cache so that readers really unwrap, under both versions.
	keys := postgres.NewDataKeys(f.pool, f.kr, 2, slog.New(slog.DiscardHandler))
	const seeded = 200
	for i := range seeded {
		if _, err := sealNote(f.ctx, f.pool, keys, fmt.Sprintf("seed-%d", i), []byte(fmt.Sprintf("body %d", i))); err != nil {
			t.Fatal(err)
		}
	}

	var (
		failures atomic.Int64
		firstErr sync.Once
		errMsg   string
		written  atomic.Int64
		rounds   [2]atomic.Int64 // per writer: completed seal transactions
	)
	fail := func(err error) {
		failures.Add(1)
		firstErr.Do(func() { errMsg = err.Error() })
	}
	ctx, stop := context.WithCancel(f.ctx)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() { // writer
			for i := 0; ctx.Err() == nil; i++ {
				row := fmt.Sprintf("w%d-%d", w, i)
				if _, err := sealNote(f.ctx, f.pool, keys, row, []byte("new "+row)); err != nil {
					fail(err)
				}
				written.Add(1)
				rounds[w].Add(1)
			}
		})
		wg.Go(func() { // reader
			for ctx.Err() == nil {
				i := rand.IntN(seeded)
				got, err := openNote(f.ctx, f.pool, keys, fmt.Sprintf("seed-%d", i))
				if err != nil {
					fail(err)
				} else if string(got) != fmt.Sprintf("body %d", i) {
					fail(errors.New("wrong plaintext"))
				}
			}
		})
	}

	time.Sleep(100 * time.Millisecond)
	if _, err := f.kr.Rotate(); err != nil {
		t.Fatal(err)
	}
	// Before the rewrap the old version is still needed: retire refuses.
	if err := keys.RetireKEK(f.ctx, f.kr, 1); !errors.Is(err, postgres.ErrKEKInUse) {
		t.Fatalf("retire before rewrap: %v, want ErrKEKInUse", err)
	}
	// Wait until every writer has completed a whole transaction begun after
	// the rotation: any key wrapped under version 1 has then committed and
	// the rewrap is bound to see it.
	for w := range rounds {
		start := rounds[w].Load()
		for rounds[w].Load() < start+2 {
			time.Sleep(time.Millisecond)
		}
	}
	var reports int
	done, err := keys.Rewrap(f.ctx, 25, func(done, remaining int64) { reports++ })
	if err != nil {
		t.Fatalf("rewrap: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // keep reading and writing on the new version
	stop()
	wg.Wait()

	if n := failures.Load(); n != 0 {
		t.Fatalf("%d reads or writes failed during rotation; first: %s", n, errMsg)
	}
	if done < seeded || reports < 2 {
		t.Errorf("rewrapped %d keys in %d progress reports; want >= %d keys over several batches", done, reports, seeded)
	}
	status, err := keys.Status(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	total := int64(seeded) + written.Load()
	if len(status) != 1 || status[0].Version != 2 || status[0].Count != total {
		t.Fatalf("status after rewrap = %+v; want all %d keys on version 2", status, total)
	}
	t.Logf("rewrapped %d keys while %d records were written concurrently", done, written.Load())

	if err := keys.RetireKEK(f.ctx, f.kr, 1); err != nil {
		t.Fatalf("retire after rewrap: %v", err)
	}
	// Reload from disk: version 1's key material is gone, yet everything
	// opens (with a cold cache, so through the rewrapped keys).
	kr, err := envelope.LoadKeyring(f.kr.Path())
	if err != nil {
		t.Fatal(err)
	}
	if kr.Has(1) {
		t.Fatal("version 1 still usable after retire")
	}
	cold := postgres.NewDataKeys(f.pool, kr, 1, nil)
	for i := range seeded {
		if _, err := openNote(f.ctx, f.pool, cold, fmt.Sprintf("seed-%d", i)); err != nil {
			t.Fatalf("seed-%d after retire: %v", i, err)
		}
	}
}

func TestRewrapIsResumableAndIdempotent(t *testing.T) {
	f := newFixture(t)
	for i := range 7 {
		f.sealNote(fmt.Sprintf("n%d", i), []byte("x"))
	}
	f.kr.Rotate()
	// A run cut short after its first batch (a crash) leaves the rest on
	// version 1; running again finishes the job.
	ctx, cancel := context.WithCancel(f.ctx)
	first, _ := f.keys.Rewrap(ctx, 3, func(int64, int64) { cancel() })
	if first != 3 {
		t.Fatalf("first run rewrapped %d, want one batch of 3", first)
	}
	var lines []string
	rest, err := f.keys.Rewrap(f.ctx, 3, func(done, remaining int64) {
		lines = append(lines, fmt.Sprintf("%d/%d", done, remaining))
	})
	if err != nil || rest != 4 {
		t.Fatalf("second run: %d, %v; want 4", rest, err)
	}
	if fmt.Sprint(lines) != "[3/1 4/0]" {
		t.Errorf("progress = %v, want [3/1 4/0]", lines)
	}
	if again, err := f.keys.Rewrap(f.ctx, 3, nil); again != 0 || err != nil {
		t.Errorf("third run: %d, %v; want nothing to do", again, err)
	}
}

func TestRewrapStopsAtAKeyThatDoesNotUnwrapNamingIt(t *testing.T) {
	f := newFixture(t)
	id := f.sealNote("n1", []byte("x"))
	f.kr.Rotate()
	f.pool.Exec(f.ctx, `UPDATE data_keys SET wrapped = set_byte(wrapped, 20, get_byte(wrapped, 20) # 1)`)
	_, err := f.keys.Rewrap(f.ctx, 10, nil)
	if !errors.Is(err, envelope.ErrAuth) || !strings.Contains(err.Error(), id) {
		t.Fatalf("err = %v; want ErrAuth naming %s", err, id)
	}
}
