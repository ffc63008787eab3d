package envelope

import (
	"container/list"
	"sync"
)

// DEKCache is a small, bounded, concurrency-safe LRU of unwrapped DEKs keyed
// by data-key id. It avoids a KEK unwrap (and, with a remote KMS, a network
// round trip) for every record read, while bounding how many plaintext keys
// sit in memory. It never logs.
//
// Crypto-shredding must call Delete (on every instance) when a DEK row is
// destroyed, otherwise a cached key could outlive its shredding until
// evicted. Go cannot guarantee that freed key memory is scrubbed; keep max
// small.
type DEKCache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type cacheEntry struct {
	id  string
	dek DEK
}

// NewDEKCache returns a cache holding at most max DEKs (max < 1 is treated
// as 1).
func NewDEKCache(max int) *DEKCache {
	if max < 1 {
		max = 1
	}
	return &DEKCache{max: max, ll: list.New(), items: make(map[string]*list.Element)}
}

// Get returns the DEK cached for id and marks it recently used.
func (c *DEKCache) Get(id string) (DEK, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[id]
	if !ok {
		return DEK{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*cacheEntry).dek, true
}

// Put caches dek under id, evicting the least recently used entry if full.
// Invalid (zero) DEKs are ignored.
func (c *DEKCache) Put(id string, dek DEK) {
	if !dek.Valid() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		el.Value.(*cacheEntry).dek = dek
		c.ll.MoveToFront(el)
		return
	}
	c.items[id] = c.ll.PushFront(&cacheEntry{id: id, dek: dek})
	for c.ll.Len() > c.max {
		c.removeElement(c.ll.Back())
	}
}

// Delete removes id from the cache (used when the DEK is crypto-shredded).
func (c *DEKCache) Delete(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.removeElement(el)
	}
}

// Purge removes every entry (e.g. after a KEK compromise or on shutdown).
func (c *DEKCache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.ll.Len() > 0 {
		c.removeElement(c.ll.Back())
	}
}

// Len returns the number of cached DEKs.
func (c *DEKCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *DEKCache) removeElement(el *list.Element) {
	e := el.Value.(*cacheEntry)
	c.ll.Remove(el)
	delete(c.items, e.id)
	e.dek = DEK{} // drop the reference so the key can be collected
}
