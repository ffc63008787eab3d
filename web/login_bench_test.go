package web_test

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/password"
)

// BenchmarkLogin100Concurrent drives sign-ins from 100 concurrent clients
// through HTTP, the real database and the real hasher, and measures raw
// argon2id hashing in the same run: sign-in cannot beat the hasher, so the
// ratio says how close to that bound the rest of the stack keeps it.
//
//	go test -run '^$' -bench Login100 -benchtime 200x ./web/
func BenchmarkLogin100Concurrent(b *testing.B) {
	const clients = 100
	s := newSite(b, map[string]string{"PORTAL_RATE_LIMIT_PER_MINUTE": "1000000"})
	if _, err := s.app.Accounts.CreateUser(context.Background(), "bench@plan.example", "Bench", accounts.RoleStaff, goodPassword, 0, ""); err != nil {
		b.Fatal(err)
	}
	hashers := s.app.Config.Accounts.MaxHashes

	// Baseline: raw argon2id verifications with the portal's parameters and
	// concurrency bound, 4 per allowed slot.
	h, err := password.NewHasher(password.DefaultParams, hashers)
	if err != nil {
		b.Fatal(err)
	}
	phc, _ := h.Hash(context.Background(), goodPassword)
	rawN := 4 * hashers
	start := time.Now()
	var wg sync.WaitGroup
	for range rawN {
		wg.Go(func() { h.Verify(context.Background(), goodPassword, phc) })
	}
	wg.Wait()
	rawPerSec := float64(rawN) / time.Since(start).Seconds()

	form := url.Values{"email": {"bench@plan.example"}, "password": {goodPassword}}.Encode()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var failures atomic.Int64
	var peak atomic.Uint64
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	go sampleHeap(stop, &peak)

	var next atomic.Int64
	b.ResetTimer()
	start = time.Now()
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", stringsReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				res, err := client.Do(req)
				if err != nil || res.StatusCode != http.StatusSeeOther {
					failures.Add(1)
				}
				if res != nil {
					res.Body.Close()
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d sign-ins failed", f, b.N)
	}
	loginsPerSec := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(loginsPerSec, "logins/s")
	b.ReportMetric(rawPerSec, "raw_argon2id/s")
	b.ReportMetric(loginsPerSec/rawPerSec, "ratio_vs_raw")
	b.ReportMetric(float64(peak.Load()-min(peak.Load(), before.HeapAlloc))/(1<<20), "peak_heap_growth_MiB")
}

func sampleHeap(stop <-chan struct{}, peak *atomic.Uint64) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	var m runtime.MemStats
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
		}
	}
}
