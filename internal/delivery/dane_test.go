package delivery_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
)

// DANE (RFC 7672) applies only when the resolver vouches for the MX and
// TLSA records with the AD bit; then the TLSA records, not the CA roots,
// decide whether the certificate is right.
func TestDANEDecidesWhenTheResolverVouchesForIt(t *testing.T) {
	w := deliverytest.NewWorld(t)
	otherCA := deliverytest.NewCA(t) // not among the trusted roots
	selfSigned := deliverytest.SelfSigned(t, "mx.ee.example")
	underOtherCA := otherCA.Leaf(t, "mx.ta.example")
	valid := w.CA.Leaf(t, "mx.wrongtlsa.example")
	peers := w.StartPeers(
		deliverytest.PeerConfig{Host: "mx.ee.example", Mode: deliverytest.STARTTLS, Cert: selfSigned},
		deliverytest.PeerConfig{Host: "mx.ta.example", Mode: deliverytest.STARTTLS, Cert: underOtherCA},
		deliverytest.PeerConfig{Host: "mx.wrongtlsa.example", Mode: deliverytest.STARTTLS, Cert: valid},
	)
	port := peers[0].Port
	spki := func(der []byte) []byte { sum := sha256.Sum256(der); return sum[:] }
	tlsa := func(host string, usage uint8, data []byte) {
		w.DNS.AddTLSA(fmt.Sprintf("_%d._tcp.%s", port, host), usage, 1, 1, data)
	}
	tlsa("mx.ee.example", 3, spki(selfSigned.Leaf.RawSubjectPublicKeyInfo))
	tlsa("mx.ta.example", 2, spki(otherCA.Cert.RawSubjectPublicKeyInfo))
	tlsa("mx.wrongtlsa.example", 3, spki([]byte("some other key")))
	for _, name := range []string{"ee", "ta", "wrongtlsa"} {
		w.MX(name+".example", "mx."+name+".example")
		w.MX("unsigned-"+name+".example", "mx."+name+".example")
		w.DNS.SetAuthenticated(name+".example", true)
		w.DNS.SetAuthenticated("mx."+name+".example", true)
	}
	r, transport, _, _ := router(t, w.Settings())

	tests := []struct {
		domain string
		method delivery.Method
		dane   bool
		reason string
	}{
		{"ee.example", delivery.MethodTLS, true, "certificate verified by DANE"},
		{"ta.example", delivery.MethodTLS, true, "certificate verified by DANE"},
		{"wrongtlsa.example", delivery.MethodPortal, false, "certificate matches none of the domain's DANE TLSA records"},
		// An unsigned MX RRset means no DANE: the roots decide.
		{"unsigned-ee.example", delivery.MethodPortal, false, "self-signed certificate"},
		{"unsigned-ta.example", delivery.MethodPortal, false, "certificate issued by an authority we do not trust"},
		{"unsigned-wrongtlsa.example", delivery.MethodTLS, false, "certificate verified"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			d := decide(t, r, tt.domain)
			if d.Method != tt.method || d.DANE != tt.dane || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("decision = %s dane=%v %q; want %s dane=%v containing %q", d.Method, d.DANE, d.Reason, tt.method, tt.dane, tt.reason)
			}
		})
	}

	t.Run("delivery verifies by DANE too", func(t *testing.T) {
		d := decide(t, r, "ee.example")
		if err := transport.Deliver(context.Background(), d, "noreply@portal.test", "dr@ee.example", secureMessage("dr@ee.example")); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
		if !peers[0].Saw(phiMarker) {
			t.Error("the DANE-verified host did not receive the message")
		}
	})
}
