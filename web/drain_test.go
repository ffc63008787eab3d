package web_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A stopping instance behind a balancer: for PORTAL_DRAIN_DELAY it still
// serves, /readyz says 503 "draining" so the health check sends new work
// elsewhere, and every response closes its connection; then it stops.
func TestDrainingSaysNotReadyAndClosesConnectionsBeforeStopping(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_DRAIN_DELAY": "700ms"})
	ln, cancel, served := serveOnLoopback(t, s)
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, string, string) {
		t.Helper()
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		conn := "keep-alive"
		if res.Close {
			conn = "close"
		}
		return res.StatusCode, strings.TrimSpace(string(body)), conn
	}
	if code, body, conn := get("/readyz"); code != 200 || conn != "keep-alive" {
		t.Fatalf("before stopping: /readyz %d %q, connection %s", code, body, conn)
	}
	stopAt := time.Now()
	cancel()
	time.Sleep(100 * time.Millisecond)
	if code, body, conn := get("/readyz"); code != http.StatusServiceUnavailable || body != "draining" || conn != "close" {
		t.Errorf("draining: /readyz %d %q, connection %s; want 503 \"draining\", close", code, body, conn)
	}
	if code, _, conn := get("/login"); code != 200 || conn != "close" {
		t.Errorf("draining: /login %d, connection %s; want served, and closed after", code, conn)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop after its drain delay")
	}
	if took := time.Since(stopAt); took < 700*time.Millisecond {
		t.Errorf("stopped %v after the signal, before the 700ms drain delay", took)
	}
	if _, err := http.Get(base + "/readyz"); err == nil {
		t.Error("still answering after the drain delay and shutdown")
	}
}
