package web_test

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"sync/atomic"
	"time"
)

// heapWatch samples the heap every few milliseconds while a test or
// benchmark runs. It keeps two peaks, because they answer different
// questions:
//
//   - objects: every heap object not yet swept, garbage included
//     (MemStats.HeapAlloc). Its peak depends on when the collector runs,
//     which depends on GOGC and on the live heap.
//   - live: the heap the last collection found reachable. This is what
//     the code holds on to; a stream that buffers the whole file shows up
//     here, garbage never does.
type heapWatch struct {
	base        [2]uint64
	peak        [2]atomic.Uint64
	stop, ended chan struct{}
}

var heapSamples = [2]string{"/memory/classes/heap/objects:bytes", "/gc/heap/live:bytes"}

func watchHeap() *heapWatch {
	h := &heapWatch{stop: make(chan struct{}), ended: make(chan struct{})}
	runtime.GC() // both figures start from the same, just-collected heap
	h.base = readHeap()
	go func() {
		defer close(h.ended)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				for i, v := range readHeap() {
					if v > h.peak[i].Load() {
						h.peak[i].Store(v)
					}
				}
			}
		}
	}()
	return h
}

// done stops sampling and returns the peak growth over the starting heap,
// in MiB: all objects (garbage included) and live objects.
func (h *heapWatch) done() (objectsMiB, liveMiB float64) {
	close(h.stop)
	<-h.ended
	growth := func(i int) float64 {
		p := h.peak[i].Load()
		return float64(p-min(p, h.base[i])) / (1 << 20)
	}
	return growth(0), growth(1)
}

func readHeap() [2]uint64 {
	s := []rtmetrics.Sample{{Name: heapSamples[0]}, {Name: heapSamples[1]}}
	rtmetrics.Read(s)
	return [2]uint64{s[0].Value.Uint64(), s[1].Value.Uint64()}
}
