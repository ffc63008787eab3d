package password

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
)

func newTestHasher(t testing.TB, maxConcurrent int) *Hasher {
	t.Helper()
	h, err := NewHasher(DefaultParams, maxConcurrent)
	if err != nil {
		t.Fatalf("NewHasher: %v", err)
	}
	return h
}

func TestHashVerifyRoundTrip(t *testing.T) {
	h := newTestHasher(t, 2)
	ctx := context.Background()
	const pw = "correct horse battery staple"

	phc, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected PHC prefix: %q", phc)
	}
	parsed, err := parsePHC(phc)
	if err != nil {
		t.Fatalf("parsePHC(own output): %v", err)
	}
	if len(parsed.salt) != 16 || len(parsed.key) != 32 {
		t.Fatalf("salt/key length = %d/%d, want 16/32", len(parsed.salt), len(parsed.key))
	}
	ok, rehash, err := h.Verify(ctx, pw, phc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
	}

	// Fresh salt each time.
	phc2, err := h.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if phc2 == phc {
		t.Fatal("two hashes of the same password are identical: salt not random")
	}

	// NFKC: precomposed and decomposed "é" are the same password.
	phc3, err := h.Hash(ctx, "caf\u00e9 society of quiet rivers")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := h.Verify(ctx, "cafe\u0301 society of quiet rivers", phc3); err != nil || !ok {
		t.Fatalf("decomposed form did not verify: ok=%v err=%v", ok, err)
	}
}

func TestVerifyRejectsWrongPassword(t *testing.T) {
	h := newTestHasher(t, 2)
	ctx := context.Background()
	phc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{
		"", "correct horse battery stapl", "Correct horse battery staple",
		"correct horse battery staple ", strings.Repeat("x", MaxBytes+1),
	} {
		ok, rehash, err := h.Verify(ctx, wrong, phc)
		if err != nil || ok || rehash {
			t.Errorf("Verify(wrong len=%d) = (%v, %v, %v), want (false, false, nil)", len(wrong), ok, rehash, err)
		}
	}
	if err := h.VerifyDummy(ctx, "anything at all"); err != nil {
		t.Errorf("VerifyDummy: %v", err)
	}
}

func TestNeedsRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := newTestHasher(t, 1)
	const pw = "a long enough passphrase for rehash"
	phc, err := old.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}

	stronger := DefaultParams
	stronger.Time = 3
	cur, err := NewHasher(stronger, 1)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := cur.Verify(ctx, pw, phc)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify with new params = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
	// A wrong password never asks for a rehash.
	if ok, rehash, _ := cur.Verify(ctx, "not the password at all", phc); ok || rehash {
		t.Fatalf("wrong password: ok=%v rehash=%v", ok, rehash)
	}
	// After rehashing with the current params the flag clears.
	phc2, err := cur.Hash(ctx, pw)
	if err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := cur.Verify(ctx, pw, phc2); err != nil || !ok || rehash {
		t.Fatalf("after rehash = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
	}
	// Legacy hashes with weaker-than-floor params still verify (and need a
	// rehash): craft one directly since NewHasher refuses such params.
	weak := phcHash{memory: 4096, time: 1, threads: 1, salt: make([]byte, 16)}
	weak.key = argonKeyForTest(pw, weak, 32)
	if ok, rehash, err := cur.Verify(ctx, pw, weak.String()); err != nil || !ok || !rehash {
		t.Fatalf("legacy weak hash = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
}

func TestNewHasherRejectsWeakParams(t *testing.T) {
	for name, mut := range map[string]func(*Params){
		"memory":  func(p *Params) { p.Memory = 19455 },
		"time":    func(p *Params) { p.Time = 1 },
		"threads": func(p *Params) { p.Threads = 0 },
		"salt":    func(p *Params) { p.SaltLen = 8 },
		"key":     func(p *Params) { p.KeyLen = 16 },
		"huge":    func(p *Params) { p.Memory = 1 << 30 },
	} {
		p := DefaultParams
		mut(&p)
		if _, err := NewHasher(p, 1); !errors.Is(err, ErrInvalidParams) {
			t.Errorf("%s: err = %v, want ErrInvalidParams", name, err)
		}
	}
	if _, err := NewHasher(DefaultParams, 0); err == nil {
		t.Error("maxConcurrent=0 accepted")
	}
}

func TestLongPasswordNotTruncated(t *testing.T) {
	h := newTestHasher(t, 2)
	ctx := context.Background()
	base := strings.Repeat("quiet river stone ", 15)[:MaxLength-1]
	a, b := base+"a", base+"b"
	if len(a) != MaxLength {
		t.Fatalf("test setup: len=%d", len(a))
	}
	if err := Check(a); err != nil {
		t.Fatalf("Check(256 chars) refused: %v", err)
	}
	ha, err := h.Hash(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := h.Hash(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pw, phc string
		want    bool
	}{{a, ha, true}, {b, hb, true}, {a, hb, false}, {b, ha, false}} {
		ok, _, err := h.Verify(ctx, tc.pw, tc.phc)
		if err != nil || ok != tc.want {
			t.Errorf("Verify(last=%q) = (%v, %v), want %v", tc.pw[len(tc.pw)-1:], ok, err, tc.want)
		}
	}
	// 256 four-byte code points are still accepted by Hash (1024 bytes).
	wide := strings.Repeat("\U0001F600", MaxLength)
	if _, err := h.Hash(ctx, wide); err != nil {
		t.Errorf("Hash(256 emoji): %v", err)
	}
	if _, err := h.Hash(ctx, wide+"x"); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(>MaxBytes) err = %v, want ErrTooLong", err)
	}
}

func TestMalformedHashIsTypedError(t *testing.T) {
	h := newTestHasher(t, 1)
	ctx := context.Background()
	good, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	cases := map[string]string{
		"empty":             "",
		"dollar only":       "$",
		"bcrypt":            "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy",
		"argon2i":           "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"argon2d":           "$argon2d$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"no leading dollar": "argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"old version":       "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"missing version":   "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key,
		"extra field":       good + "$extra",
		"missing key":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt,
		"empty key":         "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
		"params reordered":  "$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"params missing":    "$argon2id$v=19$m=19456,t=2$" + salt + "$" + key,
		"params spaced":     "$argon2id$v=19$m=19456, t=2,p=1$" + salt + "$" + key,
		"negative":          "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key,
		"plus sign":         "$argon2id$v=19$m=+19456,t=2,p=1$" + salt + "$" + key,
		"leading zero":      "$argon2id$v=19$m=019456,t=2,p=1$" + salt + "$" + key,
		"overflow u32":      "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + key,
		"huge memory":       "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key,
		"huge time":         "$argon2id$v=19$m=19456,t=4000000000,p=1$" + salt + "$" + key,
		"zero time":         "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"zero threads":      "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"threads > 255":     "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"memory < 8p":       "$argon2id$v=19$m=16,t=2,p=4$" + salt + "$" + key,
		"salt not b64":      "$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + key,
		"salt padded":       "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key,
		"salt with newline": "$argon2id$v=19$m=19456,t=2,p=1$" + salt[:4] + "\n" + salt[4:] + "$" + key,
		"salt too short":    "$argon2id$v=19$m=19456,t=2,p=1$AAAA$" + key,
		"key url-safe b64":  "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.NewReplacer("+", "-", "/", "_").Replace(key) + "-_",
		"key too long":      "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + strings.Repeat("A", 1000),
		"key non-canonical": "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key[:len(key)-1] + "B",
		"utf8 garbage":      "$argon2id$v=19$m=19456,t=2,p=1$\xff\xfe$" + key,
	}
	for name, phc := range cases {
		t.Run(name, func(t *testing.T) {
			ok, rehash, err := h.Verify(ctx, "correct horse battery staple", phc)
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("err = %v, want ErrMalformedHash", err)
			}
			if ok || rehash {
				t.Fatalf("ok=%v rehash=%v on malformed hash", ok, rehash)
			}
			if strings.Contains(err.Error(), "correct horse") || (salt != "" && strings.Contains(err.Error(), salt)) {
				t.Fatalf("error leaks input: %v", err)
			}
		})
	}
}

// blockingHook instruments a Hasher: every argon2 computation increments an
// in-flight counter, records the high-water mark, and waits for release.
type blockingHook struct {
	inFlight, maxSeen, started atomic.Int64
	release                    chan struct{}
}

func (b *blockingHook) hook() {
	n := b.inFlight.Add(1)
	for {
		m := b.maxSeen.Load()
		if n <= m || b.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	b.started.Add(1)
	<-b.release
	b.inFlight.Add(-1)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestConcurrencyIsBounded(t *testing.T) {
	const limit, workers = 3, 12
	h := newTestHasher(t, limit)
	bh := &blockingHook{release: make(chan struct{})}
	h.computeHook = bh.hook
	phc, err := NewHasher(DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := phc.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			switch i % 3 { // mix all three entry points
			case 0:
				_, err = h.Hash(context.Background(), "correct horse battery staple")
			case 1:
				_, _, err = h.Verify(context.Background(), "correct horse battery staple", stored)
			default:
				err = h.VerifyDummy(context.Background(), "nobody's password")
			}
			errs <- err
		}()
	}

	// Exactly `limit` computations get in; the rest must wait.
	waitFor(t, "slots to fill", func() bool { return bh.inFlight.Load() == limit })
	time.Sleep(50 * time.Millisecond) // give any over-admission a chance to show
	if got := bh.inFlight.Load(); got != limit {
		t.Fatalf("in flight = %d, want %d", got, limit)
	}
	close(bh.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("worker: %v", err)
		}
	}
	if got := bh.started.Load(); got != workers {
		t.Errorf("computations = %d, want %d", got, workers)
	}
	if got := bh.maxSeen.Load(); got > limit {
		t.Errorf("max concurrent computations = %d, want <= %d", got, limit)
	}
}

func TestContextCancelWhileWaiting(t *testing.T) {
	h := newTestHasher(t, 1)
	bh := &blockingHook{release: make(chan struct{})}
	h.computeHook = bh.hook

	// Occupy the only slot.
	done := make(chan error, 1)
	go func() {
		_, err := h.Hash(context.Background(), "correct horse battery staple")
		done <- err
	}()
	waitFor(t, "slot to be taken", func() bool { return bh.inFlight.Load() == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	waiting := make(chan error, 3)
	go func() { _, err := h.Hash(ctx, "correct horse battery staple"); waiting <- err }()
	go func() { _, _, err := h.Verify(ctx, "x", mustHash(t)); waiting <- err }()
	go func() { waiting <- h.VerifyDummy(ctx, "x") }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	for range 3 {
		select {
		case err := <-waiting:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter did not return after cancel")
		}
	}
	if got := bh.started.Load(); got != 1 {
		t.Errorf("computations started = %d, want 1 (cancelled waiters must not compute)", got)
	}

	// Already-expired deadline fails fast even when a slot is free.
	close(bh.release)
	if err := <-done; err != nil {
		t.Fatalf("slot holder: %v", err)
	}
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	if _, err := h.Hash(expired, "correct horse battery staple"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired ctx err = %v, want DeadlineExceeded", err)
	}
}

var (
	sharedHashOnce sync.Once
	sharedHash     string
)

// mustHash returns a valid PHC string (computed once, outside any hooks).
func mustHash(t *testing.T) string {
	sharedHashOnce.Do(func() {
		h, err := NewHasher(DefaultParams, 1)
		if err == nil {
			sharedHash, err = h.Hash(context.Background(), "correct horse battery staple")
		}
		if err != nil {
			panic(err)
		}
	})
	return sharedHash
}

// BenchmarkArgon2idHash measures Hash at DefaultParams. "serial" is the
// per-core rate (one login's latency = 1/rate); "parallel" uses a Hasher
// bounded at GOMAXPROCS, i.e. the machine's ceiling for logins/second.
func BenchmarkArgon2idHash(b *testing.B) {
	ctx := context.Background()
	const pw = "correct horse battery staple"
	b.Run("serial", func(b *testing.B) {
		h := newTestHasher(b, 1)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if _, err := h.Hash(ctx, pw); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
	b.Run("parallel", func(b *testing.B) {
		h := newTestHasher(b, runtime.GOMAXPROCS(0))
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := h.Hash(ctx, pw); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
	})
}

func argonKeyForTest(pw string, h phcHash, keyLen uint32) []byte {
	return argon2.IDKey(normalize(pw), h.salt, h.time, h.memory, h.threads, keyLen)
}
