package main

import (
	"sync"
	"time"
)

// every calls f every period on its own goroutine until stop is called;
// stop returns once f is no longer running.
func every(period time.Duration, f func()) (stop func()) {
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				f()
			}
		}
	})
	return func() { close(quit); wg.Wait() }
}
