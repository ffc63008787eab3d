package deliverytest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Log returns Postfix's log (maillog_file) so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "maillog"))
	return string(b)
}

func (p *Postfix) diagnostics() string {
	out, _ := os.ReadFile(filepath.Join(p.Dir, "master.out"))
	return fmt.Sprintf("--- maillog ---\n%s--- master output ---\n%s", p.Log(), out)
}

// Held returns the queue IDs of the messages on hold.
func (p *Postfix) Held() []string {
	entries, _ := os.ReadDir(filepath.Join(p.Dir, "queue", "hold"))
	var ids []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			ids = append(ids, e.Name())
		}
	}
	return ids
}

// Queued returns the paths of every queue file, in any queue.
func (p *Postfix) Queued() []string {
	var files []string
	for _, q := range []string{"maildrop", "incoming", "active", "deferred", "hold", "corrupt"} {
		_ = filepath.WalkDir(filepath.Join(p.Dir, "queue", q), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	return files
}

// WaitHeld waits until n messages are on hold and returns their IDs.
func (p *Postfix) WaitHeld(t testing.TB, n int, timeout time.Duration) []string {
	t.Helper()
	var ids []string
	if !waitFor(timeout, func() bool { ids = p.Held(); return len(ids) >= n }) {
		t.Fatalf("deliverytest: %d message(s) on hold after %s, want %d", len(ids), timeout, n)
	}
	return ids
}

// QueueFile returns the message content (header and body, as Postfix
// stored it) of queue file id, read with postcat.
func (p *Postfix) QueueFile(t testing.TB, id string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(p.bins.postcat, "-c", filepath.Join(p.Dir, "etc"), "-bh", "-q", id)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("deliverytest: postcat -q %s: %v: %s", id, err, stderr.Bytes())
	}
	return out
}

// Release takes message id off hold and asks for its delivery now.
func (p *Postfix) Release(t testing.TB, id string) {
	t.Helper()
	conf := filepath.Join(p.Dir, "etc")
	if out, err := exec.Command(p.bins.postsuper, "-c", conf, "-H", id).CombinedOutput(); err != nil {
		t.Fatalf("deliverytest: postsuper -H %s: %v: %s", id, err, out)
	}
	if out, err := exec.Command(p.bins.postqueue, "-c", conf, "-i", id).CombinedOutput(); err != nil {
		// queue_run_delay picks it up within a second or two anyway.
		t.Logf("deliverytest: postqueue -i %s: %v: %s", id, err, out)
	}
}

// Mailbox returns the messages delivered to a Maildir (as named in
// PostfixConfig.Mailboxes), oldest first by name.
func (p *Postfix) Mailbox(maildir string) [][]byte {
	var msgs [][]byte
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(p.Dir, "mail", maildir, sub)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err == nil && e.Type().IsRegular() {
				msgs = append(msgs, b)
			}
		}
	}
	return msgs
}

// WaitQueueEmpty waits until no message is left in any queue (the queue
// manager removes a queue file just after its delivery).
func (p *Postfix) WaitQueueEmpty(t testing.TB, timeout time.Duration) {
	t.Helper()
	var left []string
	if !waitFor(timeout, func() bool { left = p.Queued(); return len(left) == 0 }) {
		t.Fatalf("deliverytest: still queued after %s: %v", timeout, left)
	}
}

// WaitMailbox waits until n messages are in maildir and returns them.
func (p *Postfix) WaitMailbox(t testing.TB, maildir string, n int, timeout time.Duration) [][]byte {
	t.Helper()
	var msgs [][]byte
	if !waitFor(timeout, func() bool { msgs = p.Mailbox(maildir); return len(msgs) >= n }) {
		t.Fatalf("deliverytest: %d message(s) in %s after %s, want %d", len(msgs), maildir, timeout, n)
	}
	return msgs
}

// FilesContaining lists the files anywhere under Dir (queue, Maildirs,
// log) that contain marker.
func (p *Postfix) FilesContaining(marker []byte) []string {
	var hits []string
	_ = filepath.WalkDir(p.Dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, marker) {
			hits = append(hits, path)
		}
		return nil
	})
	return hits
}

func waitFor(timeout time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(timeout); ; {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}
