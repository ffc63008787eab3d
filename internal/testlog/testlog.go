// Package testlog is a log sink for tests: handlers and background work
// write to it while the test reads what was logged.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer that is safe for concurrent use and can be read at
// any time.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
