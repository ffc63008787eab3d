package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// trickle writes one byte of s every gap until s is sent or the server
// closes the connection; it reports when it stopped.
func trickle(c net.Conn, s string, gap time.Duration) <-chan time.Time {
	stopped := make(chan time.Time, 1)
	go func() {
		for i := range len(s) {
			if _, err := c.Write([]byte{s[i]}); err != nil {
				break
			}
			time.Sleep(gap)
		}
		stopped <- time.Now()
	}()
	return stopped
}

// readUntilClosed reads what the server answers until it closes c, and
// reports when.
func readUntilClosed(c net.Conn) (string, time.Time, error) {
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return string(b), time.Now(), fmt.Errorf("the server never closed the connection: %w", err)
	}
	return string(b), time.Now(), nil
}

// Slowloris: headers sent a byte at a time are cut by the header timeout,
// before any handler (or the database) is involved.
func TestSlowHeadersAreCut(t *testing.T) {
	e := newTestEnv(t, map[string]string{"PORTAL_READ_HEADER_TIMEOUT": "1s"})
	addr := serveReal(t, e, nil)
	acquires := e.pool.Stat().AcquireCount()

	c := dialFrom(t, "127.0.0.1", addr)
	start := time.Now()
	trickle(c, "GET /login HTTP/1.1\r\nHost: portal.test\r\nX-Slow: "+strings.Repeat("a", 1000)+"\r\n\r\n", 50*time.Millisecond)
	_, closed, err := readUntilClosed(c)
	if err != nil {
		t.Fatal(err)
	}
	if open := closed.Sub(start); open < 900*time.Millisecond || open > 3*time.Second {
		t.Errorf("slow headers were cut after %v, want about the 1s header timeout", open)
	}
	if n := e.pool.Stat().AcquireCount(); n != acquires {
		t.Errorf("slow headers used the database (%d acquires)", n-acquires)
	}
}

// A form body trickled in is cut within PORTAL_BODY_TIMEOUT of its first
// byte, and while it trickles it holds no database connection.
func TestSlowBodyIsCutAndHoldsNoDatabaseConnection(t *testing.T) {
	const bodyTimeout = 2 * time.Second
	e := newTestEnv(t, map[string]string{"PORTAL_BODY_TIMEOUT": bodyTimeout.String()})
	addr := serveReal(t, e, nil)
	pool := e.pool.Stat()
	acquires := pool.AcquireCount()

	c := dialFrom(t, "127.0.0.1", addr)
	body := "email=someone%40clinic.example&password=" + strings.Repeat("x", 200)
	io.WriteString(c, "POST /login HTTP/1.1\r\nHost: portal.test\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		fmt.Sprintf("Content-Length: %d\r\n\r\n", len(body)))
	start := time.Now()
	trickle(c, body, 100*time.Millisecond)

	// Watch the pool while the body trickles: once the request's own
	// queries before the body (the rate limit) are done, no connection may
	// be taken until the server gives up on the body.
	answered := make(chan string, 1)
	closedAt := make(chan time.Time, 1)
	go func() {
		answer, at, _ := readUntilClosed(c)
		answered <- answer
		closedAt <- at
	}()
	settled := false
	var held []int32
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
watch:
	for {
		select {
		case <-tick.C:
			st := e.pool.Stat()
			if !settled {
				settled = st.AcquireCount() > acquires && st.AcquiredConns() == 0
				continue
			}
			if n := st.AcquiredConns(); n != 0 {
				held = append(held, n)
			}
		case answer := <-answered:
			if !strings.HasPrefix(answer, "HTTP/1.1 4") {
				t.Errorf("a cut body was answered %q, want a 4xx", firstLine(answer))
			}
			break watch
		}
	}
	open := (<-closedAt).Sub(start)
	if open < bodyTimeout-200*time.Millisecond || open > bodyTimeout+3*time.Second {
		t.Errorf("a trickled body was cut after %v, want about %v", open, bodyTimeout)
	}
	if !settled {
		t.Error("never saw the request's queries finish")
	}
	if len(held) > 0 {
		t.Errorf("database connections held while the body trickled: %v", held)
	}
	t.Logf("trickled body (1 byte per 100ms, PORTAL_BODY_TIMEOUT=%v) cut after %v", bodyTimeout, open.Round(10*time.Millisecond))
}

// A request announcing a body larger than any route accepts gets 413 at
// once, before the server reads a byte of it or touches the database.
func TestAnnouncedHugeBodyIsRefusedBeforeReading(t *testing.T) {
	// A body timeout longer than the test's deadline: an answer proves the
	// server did not wait for the body.
	e := newTestEnv(t, map[string]string{"PORTAL_BODY_TIMEOUT": "1m"})
	addr := serveReal(t, e, nil)
	for _, tc := range []struct{ path, length string }{
		{"/login", "2147483648"},
		{"/login", fmt.Sprint(e.srv.cfg.MaxFormBytes + 1)}, // over its route's limit, under the largest
		{"/staff/compose", fmt.Sprint(e.srv.uploadBodyLimit() + 1)},
	} {
		acquires := e.pool.Stat().AcquireCount()
		c := dialFrom(t, "127.0.0.1", addr)
		io.WriteString(c, "POST "+tc.path+" HTTP/1.1\r\nHost: portal.test\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "+tc.length+"\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%s with Content-Length %s: %v", tc.path, tc.length, err)
		}
		page, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusRequestEntityTooLarge || !res.Close {
			t.Errorf("%s with Content-Length %s: status %d, close %v", tc.path, tc.length, res.StatusCode, res.Close)
		}
		mustContain(t, "413 page", string(page), "That was too large", res.Header.Get("X-Request-Id"))
		if res.Header.Get("Content-Security-Policy") == "" {
			t.Error("413 page without the security headers")
		}
		if n := e.pool.Stat().AcquireCount(); n != acquires {
			t.Errorf("%s: the refusal used the database (%d acquires)", tc.path, n-acquires)
		}
	}
}

// An upload is allowed its time while it keeps PORTAL_MIN_TRANSFER_RATE,
// well past PORTAL_BODY_TIMEOUT; one that stalls is cut a window later.
func TestBodyKeepingTheMinimumRateIsNotCut(t *testing.T) {
	const window = 500 * time.Millisecond
	e := newTestEnv(t, map[string]string{"PORTAL_BODY_TIMEOUT": window.String(), "PORTAL_MIN_TRANSFER_RATE": "10000"})
	addr := serveReal(t, e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "%d", n)
	}))
	post := func(chunks int, gap time.Duration, stall bool) (string, time.Duration) {
		c := dialFrom(t, "127.0.0.1", addr)
		const chunk = 1000 // at a chunk per 50ms: 20,000 bytes/s, twice the minimum
		total := chunks * chunk
		if stall {
			total++
		}
		io.WriteString(c, fmt.Sprintf("POST / HTTP/1.1\r\nHost: portal.test\r\nContent-Length: %d\r\n\r\n", total))
		start := time.Now()
		for range chunks {
			c.Write([]byte(strings.Repeat("x", chunk)))
			time.Sleep(gap)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err.Error(), time.Since(start)
		}
		b, _ := io.ReadAll(res.Body)
		return fmt.Sprintf("%d %s", res.StatusCode, b), time.Since(start)
	}
	got, took := post(40, 50*time.Millisecond, false) // about 2s, four windows
	if got != "200 40000" {
		t.Errorf("a steady upload over %v: %q", took, got)
	}
	got, took = post(10, 50*time.Millisecond, true) // then one byte never comes
	if !strings.HasPrefix(got, "408") {
		t.Errorf("a stalled upload: %q", got)
	}
	// 10,000 bytes at 10,000/s earn at most one window of credit.
	if stalled := took - 10*50*time.Millisecond; stalled > window+time.Second {
		t.Errorf("a stalled upload was cut %v after its last byte, want about %v", stalled, window)
	}
}

// A response is allowed PORTAL_WRITE_TIMEOUT, and longer while the client
// takes it at the minimum rate; a client that stops reading is cut.
func TestSlowReaderIsCutButSteadyDownloadIsNot(t *testing.T) {
	const size = 32 << 20 // well past what loopback socket buffers hold
	e := newTestEnv(t, map[string]string{"PORTAL_WRITE_TIMEOUT": "1s", "PORTAL_BODY_TIMEOUT": "1s", "PORTAL_MIN_TRANSFER_RATE": fmt.Sprint(4 << 20)})
	wrote := make(chan error, 1)
	addr := serveReal(t, e, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		buf := make([]byte, 64<<10)
		var err error
		for sent := 0; sent < size && err == nil; sent += len(buf) {
			_, err = w.Write(buf)
		}
		wrote <- err
	}))

	// About 16 MB/s, four times the minimum: some 2s, past the write timeout.
	c := dialFrom(t, "127.0.0.1", addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: portal.test\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var got int64
	for {
		n, err := io.CopyN(io.Discard, res.Body, 256<<10)
		got += n
		if err != nil {
			break
		}
		time.Sleep(15 * time.Millisecond)
	}
	if err := <-wrote; err != nil || got != size {
		t.Errorf("a steady download over %v: %d of %d bytes, server: %v", time.Since(start), got, size, err)
	}

	// A client that reads nothing.
	stuck := dialFrom(t, "127.0.0.1", addr)
	start = time.Now()
	io.WriteString(stuck, "GET / HTTP/1.1\r\nHost: portal.test\r\n\r\n")
	err = <-wrote
	if err == nil {
		t.Fatal("a client that read nothing got the whole response")
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a client that read nothing held the response %v, want about the 1s write timeout", took)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
