package inbound_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/healthnet/secureportal/internal/inbound"
)

// RFC 3207: STARTTLS is offered and MAIL refused until it is used; TLS
// below 1.2 is refused; there is no AUTH to guess passwords at, before or
// after TLS; a message goes to one thread.
func TestInboundRequiresSTARTTLSBeforeMail(t *testing.T) {
	w := newWorld(t, nil, nil)
	c, err := smtp.Dial(w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("mta.clinic.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Error("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered in clear text")
	}
	wantAnswer(t, "MAIL before STARTTLS", c.Mail(providerEmail, nil), "530 5.7.0 Must issue a STARTTLS command first")

	secure, err := smtp.DialStartTLS(w.addr, w.tls.client())
	if err != nil {
		t.Fatal(err)
	}
	defer secure.Close()
	if ok, _ := secure.Extension("AUTH"); ok {
		t.Error("AUTH offered over TLS")
	}
	wantAnswer(t, "MAIL after STARTTLS", secure.Mail(providerEmail, nil), "")
	wantAnswer(t, "first RCPT", secure.Rcpt(w.replyAddress(), nil), "")
	_, second := w.newThread("Second thread")
	wantAnswer(t, "second RCPT", secure.Rcpt("reply+"+second+"@"+replyDomain, nil), "452 4.5.3")

	legacy := w.tls.client()
	legacy.MinVersion, legacy.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	// The handshake happens on the first command after STARTTLS.
	if c, err := smtp.DialStartTLS(w.addr, legacy); err == nil {
		defer c.Close()
		if err := c.Noop(); err == nil {
			t.Error("a session over TLS 1.1 was accepted")
		}
	}
}

// greeting opens a TCP connection and returns it with the server's first
// line.
func greeting(t *testing.T, addr string) (net.Conn, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, line
}

// One address may hold MaxConnsPerIP sessions; the next is answered 421 and
// closed, and a slot frees when a session ends.
func TestInboundLimitsConnectionsPerAddress(t *testing.T) {
	w := newWorld(t, func(s *inbound.Settings) { s.MaxConnsPerIP = 2 }, nil)
	first, line := greeting(t, w.addr)
	if !strings.HasPrefix(line, "220 ") {
		t.Fatalf("first connection: %q", line)
	}
	if _, line := greeting(t, w.addr); !strings.HasPrefix(line, "220 ") {
		t.Fatalf("second connection: %q", line)
	}
	if _, line := greeting(t, w.addr); !strings.HasPrefix(line, "421 4.7.0") {
		t.Fatalf("third connection: %q, want 421 4.7.0", line)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, line := greeting(t, w.addr)
		if strings.HasPrefix(line, "220 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot freed after a session ended: %q", line)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A sender that goes quiet is told 421 4.4.2 and disconnected.
func TestInboundIdleSessionTimesOut(t *testing.T) {
	w := newWorld(t, func(s *inbound.Settings) { s.ReadTimeout = 300 * time.Millisecond }, nil)
	c, _ := greeting(t, w.addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 4.4.2") {
		t.Fatalf("after silence: %q, %v; want 421 4.4.2", line, err)
	}
}

// The read timeout bounds each silence, not the whole message: a large
// reply on a slow line that keeps coming is not cut off.
func TestInboundSlowSteadySenderIsNotCutOff(t *testing.T) {
	// A second against gaps of 300 ms: with 400 ms against 100 ms, a
	// loaded machine's scheduling delays alone tripped the timeout.
	w := newWorld(t, func(s *inbound.Settings) { s.ReadTimeout = time.Second }, nil)
	c, err := smtp.DialStartTLS(w.addr, w.tls.client())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wantAnswer(t, "MAIL", c.Mail(providerEmail, nil), "")
	wantAnswer(t, "RCPT", c.Rcpt(w.replyAddress(), nil), "")
	data, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	msg := compose(providerEmail, w.replyAddress(), "Slowly.", file{"scan.pdf", "application/pdf", randomBytes(t, 64<<10), false})
	for chunk := 8 << 10; len(msg) > 0; msg = msg[min(chunk, len(msg)):] {
		if _, err := data.Write(msg[:min(chunk, len(msg))]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // about 3.5 s in all, over three times the timeout
	}
	wantAnswer(t, "slow DATA", data.Close(), "")
}

// When its context ends, Serve stops listening, waits ShutdownGrace for
// open sessions, cuts them and returns nil.
func TestInboundStopsGracefully(t *testing.T) {
	w := newWorld(t, func(s *inbound.Settings) { s.ShutdownGrace = 300 * time.Millisecond }, nil)
	idle, err := smtp.Dial(w.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	if err := idle.Hello("mta.clinic.test"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := w.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	if err := idle.Noop(); err == nil {
		t.Error("an idle session survived the stop")
	}
	if c, err := net.DialTimeout("tcp", w.addr, time.Second); err == nil {
		c.Close()
		t.Error("still accepting connections after the stop")
	}
}
