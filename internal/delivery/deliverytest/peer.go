package deliverytest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Mode is how a peer handles TLS.
type Mode int

const (
	// NoSTARTTLS never offers STARTTLS, like a server without TLS.
	NoSTARTTLS Mode = iota
	// STARTTLS offers STARTTLS with PeerConfig.Cert, TLS 1.2 and later.
	STARTTLS
	// TLS10Only offers STARTTLS but speaks only TLS 1.0.
	TLS10Only
	// DropAfterSTARTTLS answers 220 to STARTTLS, then hangs up.
	DropAfterSTARTTLS
)

// PeerConfig describes one MX host.
type PeerConfig struct {
	Host string // its DNS name, e.g. "mx.clinic.example"
	Mode Mode
	Cert tls.Certificate // for STARTTLS and TLS10Only
	// RcptError, when set, answers every RCPT (say a 450 or a 550).
	RcptError *smtp.SMTPError
}

// Envelope is one mail transaction a peer saw, from MAIL FROM on.
type Envelope struct {
	From string
	To   []string
	Data []byte // the raw DATA bytes, nil if DATA never completed
	TLS  bool   // the transaction ran inside TLS
}

// Peer is a running SMTP server on a loopback address.
type Peer struct {
	Host string
	IP   string
	Port int

	cfg PeerConfig
	srv *smtp.Server
	ln  net.Listener

	mu        sync.Mutex
	envelopes []Envelope
	wire      bytes.Buffer
	served    chan struct{}
}

// StartPeers starts one peer per config on 127.0.0.2, 127.0.0.3, ... all
// on one port, and stops them when the test ends. Failing to start is a
// test failure, never a skip: CI must not pass by testing nothing.
func StartPeers(t testing.TB, cfgs ...PeerConfig) []*Peer {
	t.Helper()
	ips := make([]string, len(cfgs))
	for i := range cfgs {
		ips[i] = peerIP(i)
	}
	lns, err := listenShared(ips)
	if err != nil {
		t.Fatalf("deliverytest: start peers: %v", err)
	}
	peers := make([]*Peer, len(cfgs))
	for i, cfg := range cfgs {
		peers[i] = startPeer(cfg, lns[i])
		t.Cleanup(peers[i].close)
	}
	return peers
}

func startPeer(cfg PeerConfig, ln net.Listener) *Peer {
	addr := ln.Addr().(*net.TCPAddr)
	p := &Peer{Host: cfg.Host, IP: addr.IP.String(), Port: addr.Port, cfg: cfg, ln: ln, served: make(chan struct{})}
	srv := smtp.NewServer(backend{p})
	srv.Domain = cfg.Host
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 64 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // failed handshakes are the point
	switch cfg.Mode {
	case STARTTLS, DropAfterSTARTTLS:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cfg.Cert}, MinVersion: tls.VersionTLS12}
	case TLS10Only:
		srv.TLSConfig = &tls.Config{
			Certificates: []tls.Certificate{cfg.Cert},
			MinVersion:   tls.VersionTLS10, MaxVersion: tls.VersionTLS10, //nolint:gosec // the bad peer
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA},
		}
	}
	p.srv = srv
	go func() {
		defer close(p.served)
		_ = srv.Serve(recordingListener{Listener: ln, peer: p})
	}()
	return p
}

// Certificate is the peer's own certificate, nil without TLS.
func (p *Peer) Certificate() *x509.Certificate { return p.cfg.Cert.Leaf }

// Addr is the peer's ip:port.
func (p *Peer) Addr() string { return p.ln.Addr().String() }

// Envelopes returns a copy of every transaction seen so far.
func (p *Peer) Envelopes() []Envelope {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Envelope, len(p.envelopes))
	for i, e := range p.envelopes {
		out[i] = Envelope{From: e.From, To: slices.Clone(e.To), Data: slices.Clone(e.Data), TLS: e.TLS}
	}
	return out
}

// Wire returns every byte clients sent to the peer, as it crossed the
// network: after a TLS handshake that is ciphertext.
func (p *Peer) Wire() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return bytes.Clone(p.wire.Bytes())
}

// Saw reports whether marker reached the peer in any form a server could
// read: in plaintext on the wire or inside any transaction.
func (p *Peer) Saw(marker string) bool {
	if bytes.Contains(p.Wire(), []byte(marker)) {
		return true
	}
	for _, e := range p.Envelopes() {
		if bytes.Contains(e.Data, []byte(marker)) || e.From == marker || slices.Contains(e.To, marker) {
			return true
		}
	}
	return false
}

func (p *Peer) close() {
	_ = p.srv.Close()
	// go-smtp closes only listeners Serve has registered; right after start
	// that may not have happened yet.
	_ = p.ln.Close()
	<-p.served
}

func (p *Peer) record(f func(*Peer)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}
