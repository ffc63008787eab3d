package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
)

// The specification of the probe: for each kind of MX host, the decision
// and its reason in plain words; then delivery reaches only the host that
// passed, and every other host receives no message data at all.
func TestEachKindOfMXGetsTheRightDecisionAndOnlyTheValidOneGetsMail(t *testing.T) {
	z := newZoo(t)
	r, transport, _, _ := router(t, z.Settings())

	tests := []struct {
		kind       string
		method     delivery.Method
		reason     string
		fallback   bool // Deliver, had the decision said TLS, fails permanently
		failedStep string
	}{
		{"valid", delivery.MethodTLS, "to mx.valid.example, certificate verified", false, ""},
		{"plain", delivery.MethodPortal, "mx.plain.example offered no STARTTLS", true, "STARTTLS"},
		{"selfsigned", delivery.MethodPortal, "mx.selfsigned.example: self-signed certificate", true, "certificate"},
		{"expired", delivery.MethodPortal, "mx.expired.example: certificate expired on " + z.peers["expired"].Certificate().NotAfter.UTC().Format(time.DateOnly), true, "certificate"},
		{"wrongname", delivery.MethodPortal, "mx.wrongname.example: name mismatch: certificate is for *.host.example", true, "certificate"},
		{"tls10", delivery.MethodPortal, "mx.tls10.example supports only TLS versions older than 1.2", true, "TLS version"},
		{"dropped", delivery.MethodPortal, "mx.dropped.example dropped the connection during the TLS handshake", false, "TLS version"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			domain := tt.kind + ".example"
			d := decide(t, r, domain)
			if d.Method != tt.method || !strings.Contains(d.Reason, tt.reason) {
				t.Fatalf("decision = %s %q, want %s containing %q", d.Method, d.Reason, tt.method, tt.reason)
			}
			if tt.method == delivery.MethodPortal {
				last := d.Steps[len(d.Steps)-1]
				if last.OK || last.Name != tt.failedStep || d.Advice == "" {
					t.Errorf("last step = %+v, advice %q; want failed %q with advice", last, d.Advice, tt.failedStep)
				}
				// What Deliver does if the host changed after a TLS
				// decision: it must check again and refuse.
				d.Method, d.MX = delivery.MethodTLS, "mx."+domain
			}

			err := transport.Deliver(context.Background(), d, "noreply@portal.test", "dr.smith@"+domain, secureMessage("dr.smith@"+domain))
			peer := z.peers[tt.kind]
			if tt.method == delivery.MethodTLS {
				if err != nil {
					t.Fatalf("Deliver: %v", err)
				}
				env := peer.Envelopes()
				if len(env) != 1 || !env[0].TLS || !bytes.Contains(env[0].Data, []byte(phiMarker)) {
					t.Fatalf("valid peer received %d transactions, want 1 inside TLS with the message", len(env))
				}
				if bytes.Contains(peer.Wire(), []byte(phiMarker)) || bytes.Contains(peer.Wire(), []byte("MAIL FROM")) {
					t.Error("message or envelope crossed the wire in plaintext")
				}
				return
			}
			if err == nil {
				t.Fatal("Deliver succeeded to a host that failed the checks")
			}
			if got := errors.Is(err, delivery.ErrFallback); got != tt.fallback {
				t.Errorf("errors.Is(err, ErrFallback) = %v, want %v (err: %v)", got, tt.fallback, err)
			}
			assertNoMessageData(t, tt.kind, peer)
		})
	}
}

func assertNoMessageData(t *testing.T, kind string, peer interface {
	Saw(string) bool
	Wire() []byte
}) {
	t.Helper()
	if peer.Saw(phiMarker) {
		t.Errorf("%s peer saw the PHI marker", kind)
	}
	wire := string(peer.Wire())
	for _, cmd := range []string{"MAIL FROM", "RCPT TO", "DATA"} {
		if strings.Contains(wire, cmd) {
			t.Errorf("%s peer received %s in plaintext", kind, cmd)
		}
	}
}

func TestServerRepliesDecideBetweenFallbackAndRetry(t *testing.T) {
	z := newZoo(t)
	r, transport, _, _ := router(t, z.Settings())
	tests := []struct {
		kind     string
		fallback bool
	}{
		{"rejects", true}, // 550: permanent, the portal takes it
		{"busy", false},   // 450: temporary, the job retries
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			domain := tt.kind + ".example"
			d := decide(t, r, domain)
			if d.Method != delivery.MethodTLS {
				t.Fatalf("decision = %s %q, want tls", d.Method, d.Reason)
			}
			err := transport.Deliver(context.Background(), d, "noreply@portal.test", "dr@"+domain, secureMessage("dr@"+domain))
			if err == nil || errors.Is(err, delivery.ErrFallback) != tt.fallback {
				t.Errorf("err = %v, want fallback %v", err, tt.fallback)
			}
			if z.peers[tt.kind].Saw(phiMarker) {
				t.Error("the message body reached a server that refused the recipient")
			}
		})
	}
}

func TestDeliverRefusesWithoutATLSDecisionOrForAnotherDomain(t *testing.T) {
	z := newZoo(t)
	r, transport, _, _ := router(t, z.Settings())
	valid := decide(t, r, "valid.example")
	tests := []struct {
		name string
		d    delivery.Decision
		rcpt string
	}{
		{"portal decision", delivery.Decision{Domain: "valid.example", Method: delivery.MethodPortal}, "dr@valid.example"},
		{"recipient in another domain", valid, "dr@plain.example"},
		{"CRLF in the recipient", valid, "dr@valid.example\r\nRCPT TO:<x@evil.example>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := transport.Deliver(context.Background(), tt.d, "noreply@portal.test", tt.rcpt, secureMessage(tt.rcpt))
			if !errors.Is(err, delivery.ErrFallback) {
				t.Errorf("err = %v, want ErrFallback", err)
			}
		})
	}
	if n := len(z.peers["valid"].Envelopes()); n != 0 {
		t.Errorf("valid peer received %d transactions, want 0", n)
	}
}

func TestProbeNeverStartsAMailTransaction(t *testing.T) {
	z := newZoo(t)
	r, _, _, _ := router(t, z.Settings())
	for _, k := range kinds {
		decide(t, r, k+".example")
	}
	for _, k := range kinds {
		if n := len(z.peers[k].Envelopes()); n != 0 {
			t.Errorf("%s peer saw %d transactions from the probe", k, n)
		}
		assertNoMessageData(t, k, z.peers[k])
	}
}

// If the message cannot be read to the end (the store failed mid-way),
// the transaction is abandoned before the final dot: the server keeps no
// partial message and the job retries.
func TestAFailingMessageSourceLeavesNoPartialMessage(t *testing.T) {
	z := newZoo(t)
	r, transport, _, _ := router(t, z.Settings())
	d := decide(t, r, "valid.example")
	storeFailed := errors.New("attachment store unavailable")
	err := transport.Deliver(context.Background(), d, "noreply@portal.test", "dr@valid.example", func(w io.Writer) error {
		if _, err := io.WriteString(w, "Subject: [SECURE] x\r\n\r\nfirst half "+phiMarker); err != nil {
			return err
		}
		return storeFailed
	})
	if !errors.Is(err, storeFailed) || errors.Is(err, delivery.ErrFallback) {
		t.Errorf("err = %v, want the store's error, temporary", err)
	}
	for _, env := range z.peers["valid"].Envelopes() {
		if env.Data != nil {
			t.Errorf("the server accepted a partial message of %d bytes", len(env.Data))
		}
	}
}
