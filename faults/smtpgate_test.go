package faults

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// smtpGate sits between the portal and the mail sink and decides when a
// crash happens relative to each SMTP session. A session waits Delay before
// it is connected to the sink (mail "in flight" but not yet handed over).
// Frozen, new sessions wait there indefinitely, and a few sessions that
// reach QUIT (their message accepted, so recorded by the portal) are held
// there: with
// no session between those two points, a kill -9 leaves jobs in exactly two
// states, "not sent" and "sent, job not finished", and none in the
// milliseconds between the sink's 250 and the portal's record (which the
// Message-ID covers, not this test).
type smtpGate struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	cond    *sync.Cond
	delay   time.Duration
	holdNew bool
	// quitQuota is how many more sessions are held at QUIT.
	quitQuota int
	holding   bool // sessions at QUIT are being held (until open)
	// waiting: before the sink; active: talking to the sink; atQuit:
	// message done, at QUIT (held or passing).
	waiting, active, atQuit int
}

func startGate(t *testing.T, target string, delay time.Duration) *smtpGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &smtpGate{target: target, ln: ln, delay: delay}
	g.cond = sync.NewCond(&g.mu)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go g.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		g.open()
	})
	return g
}

func (g *smtpGate) Addr() string { return g.ln.Addr().String() }

// holdQuits holds the next n sessions that reach QUIT, until open.
func (g *smtpGate) holdQuits(n int) {
	g.mu.Lock()
	g.quitQuota, g.holding = n, true
	g.mu.Unlock()
}

// freezeNew holds every session before it reaches the sink.
func (g *smtpGate) freezeNew() {
	g.mu.Lock()
	g.holdNew = true
	g.mu.Unlock()
}

// open releases everything held and lets sessions through again.
func (g *smtpGate) open() {
	g.mu.Lock()
	g.holdNew, g.holding, g.quitQuota = false, false, 0
	g.cond.Broadcast()
	g.mu.Unlock()
}

// counts are the sessions before the sink, talking to it, and held at QUIT.
func (g *smtpGate) counts() (waiting, active, atQuit int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.waiting, g.active, g.atQuit
}

func (g *smtpGate) serve(c net.Conn) {
	defer c.Close()
	g.mu.Lock()
	g.waiting++
	delay := g.delay
	g.mu.Unlock()
	time.Sleep(delay)
	g.mu.Lock()
	for g.holdNew {
		g.cond.Wait()
	}
	g.waiting--
	g.active++
	g.mu.Unlock()
	state := &g.active // the counter this session is in
	defer func() {
		g.mu.Lock()
		*state--
		g.mu.Unlock()
	}()

	s, err := net.Dial("tcp", g.target)
	if err != nil {
		return
	}
	defer s.Close()
	go func() {
		_, _ = io.Copy(c, s)
		c.Close()
	}()
	r := bufio.NewReader(c)
	inData := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimRight(line, "\r\n"))
		switch {
		case inData && cmd == ".":
			inData = false
		case inData:
		case cmd == "DATA":
			inData = true
		case cmd == "QUIT":
			g.mu.Lock()
			g.active--
			g.atQuit++
			state = &g.atQuit
			if g.quitQuota > 0 {
				g.quitQuota--
				for g.holding {
					g.cond.Wait()
				}
			}
			g.mu.Unlock()
		}
		if _, err := io.WriteString(s, line); err != nil {
			return
		}
	}
}
