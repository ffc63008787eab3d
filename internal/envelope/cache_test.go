package envelope

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

func TestDEKCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := NewDEKCache(2)
	a, b, d := testDEK(t), otherDEK(t), testDEK(t).WithKEKVersion(9)
	c.Put("a", a)
	c.Put("b", b)
	if _, ok := c.Get("a"); !ok { // a is now most recent
		t.Fatal("a missing")
	}
	c.Put("d", d)
	if _, ok := c.Get("b"); ok {
		t.Fatal("b should have been evicted")
	}
	if got, ok := c.Get("a"); !ok || !bytes.Equal(got.Bytes(), a.Bytes()) {
		t.Fatal("a lost")
	}
	if got, ok := c.Get("d"); !ok || got.KEKVersion() != 9 {
		t.Fatal("d lost")
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d", c.Len())
	}
}

func TestDEKCacheDeleteForgetsShreddedKey(t *testing.T) {
	c := NewDEKCache(4)
	c.Put("a", testDEK(t))
	c.Delete("a")
	c.Delete("missing")
	if _, ok := c.Get("a"); ok || c.Len() != 0 {
		t.Fatal("deleted key still cached")
	}
	c.Put("x", testDEK(t))
	c.Purge()
	if c.Len() != 0 {
		t.Fatal("Purge left entries")
	}
}

func TestDEKCachePutReplacesAndIgnoresZeroDEK(t *testing.T) {
	c := NewDEKCache(0) // clamped to 1
	c.Put("a", testDEK(t))
	c.Put("a", otherDEK(t))
	c.Put("z", DEK{})
	got, ok := c.Get("a")
	if !ok || !bytes.Equal(got.Bytes(), otherDEK(t).Bytes()) || c.Len() != 1 {
		t.Fatal("Put must replace in place and ignore zero DEKs")
	}
}

func TestDEKCacheIsSafeForConcurrentUse(t *testing.T) {
	c := NewDEKCache(16)
	dek := testDEK(t)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				id := fmt.Sprint((g * i) % 40)
				switch i % 4 {
				case 0:
					c.Put(id, dek)
				case 1, 2:
					if got, ok := c.Get(id); ok && !got.Valid() {
						t.Error("invalid DEK from cache")
					}
				case 3:
					c.Delete(id)
				}
			}
		}(g)
	}
	wg.Wait()
	if c.Len() > 16 {
		t.Fatalf("cache exceeded bound: %d", c.Len())
	}
}
