package delivery_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
)

// The admin's policy comes first (issue 11, step 1): portal means no
// probe at all; tls-required forbids the plain-mail notification when TLS
// fails; tls-preferred is the default.
func TestAdminPolicyOverridesTheProbe(t *testing.T) {
	z := newZoo(t)
	tests := []struct {
		domain     string
		policy     delivery.Policy
		wantMethod delivery.Method
		wantNotify bool
		wantReason string
	}{
		{"valid.example", delivery.PolicyPortal, delivery.MethodPortal, true, "an administrator set valid.example to always use the portal"},
		{"valid.example", delivery.PolicyTLSRequired, delivery.MethodTLS, true, "certificate verified"},
		{"valid.example", "", delivery.MethodTLS, true, "certificate verified"},
		{"plain.example", delivery.PolicyTLSRequired, delivery.MethodPortal, false, "offered no STARTTLS"},
		{"plain.example", delivery.PolicyTLSPreferred, delivery.MethodPortal, true, "offered no STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+string(tt.policy), func(t *testing.T) {
			r, _, store, _ := router(t, z.Settings())
			store.SetPolicy(tt.domain, tt.policy)
			d := decide(t, r, tt.domain)
			wantPolicy := tt.policy
			if wantPolicy == "" {
				wantPolicy = delivery.PolicyTLSPreferred
			}
			if d.Method != tt.wantMethod || d.NotifyAllowed != tt.wantNotify || d.Policy != wantPolicy || !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("decision = %s notify=%v policy=%s %q; want %s notify=%v policy=%s containing %q",
					d.Method, d.NotifyAllowed, d.Policy, d.Reason, tt.wantMethod, tt.wantNotify, wantPolicy, tt.wantReason)
			}
		})
	}
}

func TestPortalPolicyNeverContactsTheDomain(t *testing.T) {
	z := newZoo(t)
	r, _, store, _ := router(t, z.Settings())
	store.SetPolicy("valid.example", delivery.PolicyPortal)
	decide(t, r, "valid.example")
	if n := len(z.peers["valid"].Wire()); n != 0 {
		t.Errorf("the MX of a portal-policy domain received %d bytes", n)
	}
}

func TestPolicyChangeAppliesToACachedDecision(t *testing.T) {
	z := newZoo(t)
	r, _, store, _ := router(t, z.Settings())
	if d := decide(t, r, "plain.example"); !d.NotifyAllowed {
		t.Fatal("tls-preferred failure must allow the notification")
	}
	store.SetPolicy("plain.example", delivery.PolicyTLSRequired)
	if d := decide(t, r, "plain.example"); d.NotifyAllowed || d.Policy != delivery.PolicyTLSRequired {
		t.Errorf("after the change to tls-required: notify=%v policy=%s", d.NotifyAllowed, d.Policy)
	}
}

// A decision is reused until it expires (success 1 h, failure 15 min by
// default), then the domain is probed again.
func TestCacheExpiryReprobes(t *testing.T) {
	z := newZoo(t)
	clk := newClock()
	s := z.Settings()
	s.Now = clk.Now
	r, _, _, _ := router(t, s)
	// moving.example first points at the valid host, later at the plain
	// one, and back: only a fresh probe can notice.
	z.MX("moving.example", "mx.valid.example")

	steps := []struct {
		name    string
		advance time.Duration
		mx      string // "" keeps the MX record
		want    delivery.Method
	}{
		{"first check", 0, "", delivery.MethodTLS},
		{"MX changed, success still cached at 59 min", 59 * time.Minute, "mx.plain.example", delivery.MethodTLS},
		{"success expired after 1 h: re-probed", 2 * time.Minute, "", delivery.MethodPortal},
		{"MX fixed, failure still cached at 14 min", 14 * time.Minute, "mx.valid.example", delivery.MethodPortal},
		{"failure expired after 15 min: re-probed", 2 * time.Minute, "", delivery.MethodTLS},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if st.mx != "" {
			z.DNS.Remove("moving.example")
			z.MX("moving.example", st.mx)
		}
		if d := decide(t, r, "moving.example"); d.Method != st.want {
			t.Errorf("%s: method %s (%q), want %s", st.name, d.Method, d.Reason, st.want)
		}
	}
}

func TestRecheckIgnoresTheCache(t *testing.T) {
	z := newZoo(t)
	r, _, _, _ := router(t, z.Settings())
	z.MX("moving.example", "mx.valid.example")
	decide(t, r, "moving.example")
	z.DNS.Remove("moving.example")
	z.MX("moving.example", "mx.plain.example")
	d, err := r.Recheck(t.Context(), "moving.example")
	if err != nil || d.Method != delivery.MethodPortal {
		t.Errorf("Recheck = %s, %v; want portal", d.Method, err)
	}
}

func TestDNSShapesOfADomain(t *testing.T) {
	z := newZoo(t)
	z.DNS.AddNullMX("nomail.example")
	// direct.example has no MX: its own address receives mail, so its
	// A record points at the valid host (RFC 5321 §5.1).
	z.DNS.AddZone("direct.example")
	if err := z.DNS.AddA("direct.example", z.peers["valid"].IP); err != nil {
		t.Fatal(err)
	}
	z.DNS.AddZone("gone.example")
	r, _, _, _ := router(t, z.Settings())

	tests := []struct {
		domain string
		method delivery.Method
		reason string
	}{
		{"nomail.example", delivery.MethodPortal, "nomail.example accepts no mail (null MX, RFC 7505)"},
		// The certificate names mx.valid.example, not direct.example.
		{"direct.example", delivery.MethodPortal, "direct.example: name mismatch: certificate is for mx.valid.example"},
		{"nothere.gone.example", delivery.MethodPortal, "nothere.gone.example does not exist in DNS"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			d := decide(t, r, tt.domain)
			if d.Method != tt.method || !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("decision = %s %q, want %s containing %q", d.Method, d.Reason, tt.method, tt.reason)
			}
		})
	}
	if !hasStep(decide(t, r, "direct.example"), "MX", true, "has no MX records; its own address receives mail") {
		t.Error("no MX step saying the domain's own address is used")
	}
}

func TestMXFallbackToTheDomainsOwnAddress(t *testing.T) {
	w := stsWorld(t)
	// The peer mx1.clinic.example is also published as the address of
	// mx1.clinic.example the domain; with no MX it is its own mail host.
	r, _, _, _ := router(t, w.Settings())
	d := decide(t, r, "mx1.clinic.example")
	if d.Method != delivery.MethodTLS || d.MX != "mx1.clinic.example" {
		t.Errorf("decision = %s via %q (%q), want tls via the domain itself", d.Method, d.MX, d.Reason)
	}
}

func TestDecideRefusesWhatIsNotADomain(t *testing.T) {
	z := newZoo(t)
	r, _, _, _ := router(t, z.Settings())
	for _, bad := range []string{"", "localhost", "dr@valid.example", "-bad.example", "a..example", "exa mple.com"} {
		if _, err := r.Decide(t.Context(), bad); err == nil {
			t.Errorf("Decide(%q) succeeded", bad)
		}
	}
}

func TestConcurrentDecisionsShareOneProbe(t *testing.T) {
	z := newZoo(t)
	r, _, _, _ := router(t, z.Settings())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { decide(t, r, "valid.example") })
	}
	wg.Wait()
	// Each probe sends exactly one EHLO in plaintext.
	if n := strings.Count(string(z.peers["valid"].Wire()), "EHLO"); n != 1 {
		t.Errorf("%d probes for 8 concurrent decisions, want 1", n)
	}
}

// A configured resolver is the only one: when it cannot answer, the check
// fails; it never quietly asks the system's resolver instead.
func TestAConfiguredResolverIsTheOnlyOne(t *testing.T) {
	z := newZoo(t)
	s := z.Settings()
	s.Resolver = "127.0.0.1:1" // nothing answers there
	r, _, _, _ := router(t, s)
	d := decide(t, r, "valid.example")
	if d.Method != delivery.MethodPortal || !strings.Contains(d.Reason, "could not look up the MX records of valid.example") {
		t.Errorf("decision = %s %q, want portal after a failed lookup", d.Method, d.Reason)
	}

	s.Resolver = "localhost:53"
	if _, err := delivery.NewChecker(s, &delivery.MemoryStore{}, nil); err == nil {
		t.Error("a resolver given by name was accepted: resolving it would ask the system resolver")
	}
}
