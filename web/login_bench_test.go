package web_test

import (
	"context"
	"net/http"
	"net/url"
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
	// concurrency bound, as many as the sign-ins below. One untimed round
	// first: the first hashes also pay for faulting in fresh memory, which
	// the sign-ins (running later, on a warm heap) do not.
	h, err := password.NewHasher(password.DefaultParams, hashers)
	if err != nil {
		b.Fatal(err)
	}
	phc, _ := h.Hash(context.Background(), goodPassword)
	verifyAll := func(n int) time.Duration {
		start := time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { h.Verify(context.Background(), goodPassword, phc) })
		}
		wg.Wait()
		return time.Since(start)
	}
	verifyAll(hashers)
	rawN := max(b.N, 4*hashers)
	rawPerSec := float64(rawN) / verifyAll(rawN).Seconds()

	form := url.Values{"email": {"bench@plan.example"}, "password": {goodPassword}}.Encode()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var failures atomic.Int64
	heap := watchHeap()

	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	start := time.Now()
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
	objects, live := heap.done()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d sign-ins failed", f, b.N)
	}
	loginsPerSec := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(loginsPerSec, "logins/s")
	b.ReportMetric(rawPerSec, "raw_argon2id/s")
	b.ReportMetric(loginsPerSec/rawPerSec, "ratio_vs_raw")
	b.ReportMetric(objects, "peak_heap_growth_MiB")
	b.ReportMetric(live, "peak_live_heap_growth_MiB")
}
