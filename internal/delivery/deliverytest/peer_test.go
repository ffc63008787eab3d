package deliverytest

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// dialEHLO connects to p, says EHLO and returns the connection and the
// EHLO reply.
func dialEHLO(t *testing.T, p *Peer) (net.Conn, *textproto.Conn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", p.Host, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	tp := textproto.NewConn(c)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	if err := tp.PrintfLine("EHLO test.example"); err != nil {
		t.Fatal(err)
	}
	_, msg, err := tp.ReadResponse(250)
	if err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c, tp, msg
}

// startTLS sends STARTTLS and handshakes with a client that accepts
// anything from TLS 1.0 up and trusts ca.
func startTLS(t *testing.T, c net.Conn, tp *textproto.Conn, host string, ca *CA) (tls.ConnectionState, error) {
	t.Helper()
	if err := tp.PrintfLine("STARTTLS"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	tc := tls.Client(c, &tls.Config{ServerName: host, RootCAs: roots, MinVersion: tls.VersionTLS10})
	err := tc.Handshake()
	return tc.ConnectionState(), err
}

func TestPeersBehaveAsTheirModeSays(t *testing.T) {
	ca := NewCA(t)
	peers := StartPeers(t,
		PeerConfig{Host: "mx.plain.example", Mode: NoSTARTTLS},
		PeerConfig{Host: "mx.good.example", Mode: STARTTLS, Cert: ca.Leaf(t, "mx.good.example")},
		PeerConfig{Host: "mx.old.example", Mode: TLS10Only, Cert: ca.Leaf(t, "mx.old.example")},
		PeerConfig{Host: "mx.drop.example", Mode: DropAfterSTARTTLS, Cert: ca.Leaf(t, "mx.drop.example")},
	)
	for i, p := range peers {
		if p.Port != peers[0].Port {
			t.Errorf("peer %d on port %d, want the shared port %d", i, p.Port, peers[0].Port)
		}
		if want := peerIP(i); p.IP != want {
			t.Errorf("peer %d on %s, want %s", i, p.IP, want)
		}
	}

	t.Run("no STARTTLS", func(t *testing.T) {
		_, _, ehlo := dialEHLO(t, peers[0])
		if strings.Contains(ehlo, "STARTTLS") {
			t.Errorf("EHLO offers STARTTLS: %q", ehlo)
		}
	})
	t.Run("STARTTLS with TLS 1.2 or later", func(t *testing.T) {
		c, tp, _ := dialEHLO(t, peers[1])
		state, err := startTLS(t, c, tp, "mx.good.example", ca)
		if err != nil || state.Version < tls.VersionTLS12 {
			t.Errorf("handshake: %v, version %s", err, tls.VersionName(state.Version))
		}
	})
	t.Run("TLS 1.0 only", func(t *testing.T) {
		c, tp, _ := dialEHLO(t, peers[2])
		state, err := startTLS(t, c, tp, "mx.old.example", ca)
		if err != nil || state.Version != tls.VersionTLS10 {
			t.Errorf("handshake: %v, version %s; want TLS 1.0", err, tls.VersionName(state.Version))
		}
	})
	t.Run("drops after STARTTLS", func(t *testing.T) {
		c, tp, _ := dialEHLO(t, peers[3])
		if _, err := startTLS(t, c, tp, "mx.drop.example", ca); err == nil {
			t.Error("handshake succeeded with a peer that should hang up")
		}
	})
}

func TestPeerRecordsEnvelopeDataAndWire(t *testing.T) {
	p := StartPeers(t, PeerConfig{Host: "mx.plain.example", Mode: NoSTARTTLS})[0]
	c, tp, _ := dialEHLO(t, p)
	w := bufio.NewWriter(c)
	for _, line := range []string{"MAIL FROM:<a@portal.test>", "RCPT TO:<b@plain.example>", "DATA"} {
		_, _ = w.WriteString(line + "\r\n")
		_ = w.Flush()
		if _, _, err := tp.ReadResponse(0); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	_ = tp.PrintfLine("Subject: x\r\n\r\nMARKER-123\r\n.")
	if _, _, err := tp.ReadResponse(250); err != nil {
		t.Fatalf("end of data: %v", err)
	}
	env := p.Envelopes()
	if len(env) != 1 || env[0].From != "a@portal.test" || env[0].TLS || !strings.Contains(string(env[0].Data), "MARKER-123") {
		t.Fatalf("envelopes = %+v", env)
	}
	if !p.Saw("MARKER-123") || !strings.Contains(string(p.Wire()), "MAIL FROM:<a@portal.test>") {
		t.Error("wire log misses what the client sent")
	}
}
