package envelope

import (
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkEnvelopeVsRawGCM measures Seal+Open of one record against raw
// AES-256-GCM Seal(nil,...)+Open(nil,...) (cipher constructed once) on the
// same sizes, interleaved in one run so the ratio is not skewed by CPU
// frequency drift. Reported metrics:
//
// The "-coldDEK" case builds a fresh DEK value for every op, so it includes
// the per-DEK HKDF derivation that is otherwise memoized in the DEK (and hence
// amortized by DEKCache). The "-unwrapDEK" case goes further and unwraps the
// DEK from its wrapped form under a keyring KEK for every op: the whole cost
// of reading a record whose DEK is not in the cache (the database read aside).
//
//	ratio_vs_raw  envelope throughput / raw GCM throughput (1.0 = no cost)
//	overhead_ns   extra ns per Seal+Open pair vs raw GCM
//	env_ns/op, raw_ns/op
func BenchmarkEnvelopeVsRawGCM(b *testing.B) {
	dek := testDEK(b)
	dekBytes := dek.Bytes()
	raw, err := newGCM(seqBytes(0x80, 32))
	if err != nil {
		b.Fatal(err)
	}
	nonce := make([]byte, nonceSize)
	ad := testBinding.AAD()
	ring, err := InitKeyring(filepath.Join(b.TempDir(), "keyring.json"))
	if err != nil {
		b.Fatal(err)
	}
	kekVersion, wrapped, err := ring.Wrap(ad, dek)
	if err != nil {
		b.Fatal(err)
	}
	type dekSource int
	const (
		cached    dekSource = iota // one DEK value, its derived keys memoized
		fresh                      // a new DEK value per op: HKDF + AES key expansion
		unwrapped                  // unwrapped under the KEK per op, then as fresh
	)
	cases := []struct {
		size int
		dek  dekSource
	}{{1 << 10, cached}, {1 << 10, fresh}, {1 << 10, unwrapped}, {64 << 10, cached}, {1 << 20, cached}}
	for _, c := range cases {
		size := c.size
		name := fmt.Sprintf("%dKiB", size>>10) + [...]string{"", "-coldDEK", "-unwrapDEK"}[c.dek]
		b.Run(name, func(b *testing.B) {
			pt := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			var envDur, rawDur time.Duration
			const batch = 8
			for done := 0; done < b.N; {
				n := min(batch, b.N-done)
				t0 := time.Now()
				for range n {
					dek := dek
					switch c.dek {
					case fresh:
						dek, _ = DEKFromBytes(dekBytes)
					case unwrapped:
						if dek, err = ring.Unwrap(kekVersion, ad, wrapped); err != nil {
							b.Fatal(err)
						}
					}
					ct, err := Seal(dek, testBinding, pt)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := Open(dek, testBinding, ct); err != nil {
						b.Fatal(err)
					}
				}
				t1 := time.Now()
				for range n {
					// Fresh output buffers, as Seal and Open return.
					ct := raw.Seal(nil, nonce, pt, ad)
					if _, err := raw.Open(nil, nonce, ct, ad); err != nil {
						b.Fatal(err)
					}
				}
				t2 := time.Now()
				envDur += t1.Sub(t0)
				rawDur += t2.Sub(t1)
				done += n
			}
			envNs := float64(envDur.Nanoseconds()) / float64(b.N)
			rawNs := float64(rawDur.Nanoseconds()) / float64(b.N)
			b.ReportMetric(envNs, "env_ns/op")
			b.ReportMetric(rawNs, "raw_ns/op")
			b.ReportMetric(rawNs/envNs, "ratio_vs_raw")
			b.ReportMetric(envNs-rawNs, "overhead_ns")
		})
	}
}

// BenchmarkStream100MiB writes 100 MiB through a StreamWriter into an
// io.Pipe and reads it back through a StreamReader on the other end, so the
// full ciphertext never exists in memory. It reports the peak heap growth
// (HeapAlloc sampled every millisecond, relative to the post-GC baseline)
// in heap_growth_MiB, and checks the plaintext SHA-256.
func BenchmarkStream100MiB(b *testing.B) {
	const total = 100 << 20
	dek := testDEK(b)
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i * 7)
	}
	want := sha256.New()
	for range total / len(chunk) {
		want.Write(chunk)
	}
	wantSum := want.Sum(nil)

	b.SetBytes(total)
	var peak float64
	for b.Loop() {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var maxHeap atomic.Uint64
		stop := make(chan struct{})
		var sampler sync.WaitGroup
		sampler.Add(1)
		go func() {
			defer sampler.Done()
			var m runtime.MemStats
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				runtime.ReadMemStats(&m)
				if m.HeapAlloc > maxHeap.Load() {
					maxHeap.Store(m.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-tick.C:
				}
			}
		}()

		pr, pw := io.Pipe()
		writeErr := make(chan error, 1)
		go func() {
			w, err := NewStreamWriter(pw, dek, testBinding)
			if err == nil {
				for range total / len(chunk) {
					if _, err = w.Write(chunk); err != nil {
						break
					}
				}
				if err == nil {
					err = w.Close()
				}
			}
			pw.CloseWithError(err)
			writeErr <- err
		}()
		r, err := NewStreamReader(pr, dek, testBinding)
		if err != nil {
			b.Fatal(err)
		}
		got := sha256.New()
		if _, err := io.Copy(got, r); err != nil {
			b.Fatal(err)
		}
		if err := <-writeErr; err != nil {
			b.Fatal(err)
		}
		close(stop)
		sampler.Wait()
		if string(got.Sum(nil)) != string(wantSum) {
			b.Fatal("stream round trip corrupted data")
		}
		if m := maxHeap.Load(); m > base {
			peak = max(peak, float64(m-base)/(1<<20))
		}
	}
	b.ReportMetric(peak, "heap_growth_MiB")
}
