package delivery_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/delivery/deliverytest"
)

// policy is an MTA-STS policy body (RFC 8461 §3.2).
func policy(mode string, maxAge int, mx ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: STSv1\r\nmode: %s\r\n", mode)
	for _, m := range mx {
		fmt.Fprintf(&b, "mx: %s\r\n", m)
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", maxAge)
	return b.String()
}

// stsWorld has two MX hosts with valid certificates: mx1.clinic.example
// and mx2.clinic.example, plus one with a certificate for another name.
func stsWorld(t *testing.T) *deliverytest.World {
	t.Helper()
	w := deliverytest.NewWorld(t)
	w.StartPeers(
		deliverytest.PeerConfig{Host: "mx1.clinic.example", Mode: deliverytest.STARTTLS, Cert: w.CA.Leaf(t, "mx1.clinic.example")},
		deliverytest.PeerConfig{Host: "mx2.clinic.example", Mode: deliverytest.STARTTLS, Cert: w.CA.Leaf(t, "mx2.clinic.example")},
		deliverytest.PeerConfig{Host: "mx3.clinic.example", Mode: deliverytest.STARTTLS, Cert: w.CA.Leaf(t, "*.host.example")},
	)
	return w
}

// MTA-STS enforce (RFC 8461 §4, §5) decides which MX hosts may be used,
// whatever the probe alone would say; it never loosens the certificate
// check.
func TestMTASTSEnforceOverridesTheProbe(t *testing.T) {
	tests := []struct {
		name       string
		mx         []string // in preference order
		policy     string   // "" publishes none
		wantMethod delivery.Method
		wantMX     string
		wantReason string
	}{
		{"without a policy the probe accepts mx1", []string{"mx1.clinic.example"}, "",
			delivery.MethodTLS, "mx1.clinic.example", "certificate verified"},
		{"enforce refuses mx1, valid but not listed", []string{"mx1.clinic.example"}, policy("enforce", 86400, "mx2.clinic.example"),
			delivery.MethodPortal, "", "mx1.clinic.example is not listed in the MTA-STS policy of its domain (mx: mx2.clinic.example)"},
		{"without a policy the probe picks the preferred mx1", []string{"mx1.clinic.example", "mx2.clinic.example"}, "",
			delivery.MethodTLS, "mx1.clinic.example", ""},
		{"enforce skips mx1 for the listed mx2", []string{"mx1.clinic.example", "mx2.clinic.example"}, policy("enforce", 86400, "mx2.clinic.example"),
			delivery.MethodTLS, "mx2.clinic.example", "(MTA-STS enforce)"},
		{"a wildcard pattern matches one label", []string{"mx1.clinic.example"}, policy("enforce", 86400, "*.clinic.example"),
			delivery.MethodTLS, "mx1.clinic.example", "(MTA-STS enforce)"},
		{"a listed host still needs a certificate for its name", []string{"mx3.clinic.example"}, policy("enforce", 86400, "mx3.clinic.example", "*.host.example"),
			delivery.MethodPortal, "", "name mismatch: certificate is for *.host.example"},
		{"testing mode only notes an unlisted host", []string{"mx1.clinic.example"}, policy("testing", 86400, "mx2.clinic.example"),
			delivery.MethodTLS, "mx1.clinic.example", ""},
		{"mode none restricts nothing", []string{"mx1.clinic.example"}, policy("none", 86400),
			delivery.MethodTLS, "mx1.clinic.example", ""},
	}
	w := stsWorld(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domain := fmt.Sprintf("d%d.example", i)
			w.MX(domain, tt.mx...)
			if tt.policy != "" {
				w.MTASTS(domain, "id1", tt.policy)
			}
			r, _, _, _ := router(t, w.Settings())
			d := decide(t, r, domain)
			if d.Method != tt.wantMethod || d.MX != tt.wantMX || !strings.Contains(d.Reason, tt.wantReason) {
				t.Errorf("decision = %s via %q: %q; want %s via %q containing %q", d.Method, d.MX, d.Reason, tt.wantMethod, tt.wantMX, tt.wantReason)
			}
		})
	}
}

func TestMTASTSTestingModeLogsWhatEnforceWouldRefuse(t *testing.T) {
	w := stsWorld(t)
	w.MX("clinic.example", "mx1.clinic.example")
	w.MTASTS("clinic.example", "t1", policy("testing", 86400, "mx2.clinic.example"))
	r, _, _, logs := router(t, w.Settings())

	d := decide(t, r, "clinic.example")
	if d.Method != delivery.MethodTLS || d.MTASTSMode != "testing" {
		t.Fatalf("decision = %s, mode %q; want tls under testing", d.Method, d.MTASTSMode)
	}
	if !hasStep(d, "MTA-STS", false, "testing mode, so only noted") {
		t.Errorf("no failed MTA-STS step noting testing mode in %+v", d.Steps)
	}
	if !strings.Contains(logs.String(), "mta-sts testing policy would refuse mx") {
		t.Errorf("log lacks the testing-mode warning:\n%s", logs)
	}
}

// RFC 8461 §5.1: a cached, unexpired policy applies even when the TXT
// record vanishes or the new policy cannot be fetched; that is what keeps
// an attacker who blocks the fetch from stripping TLS (§10.2).
func TestCachedEnforcePolicySurvivesAFailedFetchUntilMaxAge(t *testing.T) {
	w := stsWorld(t)
	w.MX("clinic.example", "mx1.clinic.example")
	sts := w.MTASTS("clinic.example", "v1", policy("enforce", 3600, "mx2.clinic.example"))
	clk := newClock()
	s := w.Settings()
	s.Now = clk.Now
	r, _, _, _ := router(t, s)

	steps := []struct {
		name       string
		change     func()
		advance    time.Duration
		wantMethod delivery.Method
		wantStep   string
	}{
		{"first check fetches and enforces", func() {}, 0, delivery.MethodPortal, "policy v1 fetched (mode enforce"},
		{"same id: the cache answers without a fetch", func() {}, time.Minute, delivery.MethodPortal, "policy v1 (mode enforce, cached until"},
		{"new id but the fetch fails: the cached policy still applies",
			func() { w.MTASTS("clinic.example", "v2", ""); sts.SetFailing("clinic.example", true) },
			time.Minute, delivery.MethodPortal, "fetching policy v2 failed"},
		{"TXT record withdrawn: the cached policy still applies",
			func() { w.DNS.Remove("_mta-sts.clinic.example") }, time.Minute, delivery.MethodPortal, "publishes no MTA-STS record; applying the cached policy"},
		{"after max_age the policy is gone and the probe decides",
			func() {}, time.Hour, delivery.MethodTLS, "publishes no MTA-STS record"},
	}
	for _, st := range steps {
		st.change()
		clk.Advance(st.advance)
		d, err := r.Recheck(t.Context(), "clinic.example")
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if d.Method != st.wantMethod || !hasStep(d, "MTA-STS", true, st.wantStep) {
			t.Errorf("%s: decision %s %q, steps %+v; want %s with MTA-STS step %q", st.name, d.Method, d.Reason, d.Steps, st.wantMethod, st.wantStep)
		}
	}
	if n := sts.Fetches("clinic.example"); n != 2 {
		t.Errorf("policy fetched %d times, want 2 (first check, then the new id)", n)
	}
}

func TestAFailedFetchWithoutACachedPolicyContinuesWithoutMTASTS(t *testing.T) {
	w := stsWorld(t)
	w.MX("clinic.example", "mx1.clinic.example")
	w.MTASTS("clinic.example", "v1", policy("enforce", 3600, "mx2.clinic.example")).SetFailing("clinic.example", true)
	r, _, _, _ := router(t, w.Settings())

	d := decide(t, r, "clinic.example")
	if d.Method != delivery.MethodTLS || d.MTASTSMode != "" || !hasStep(d, "MTA-STS", false, "fetching it failed") {
		t.Errorf("decision %s, mode %q, steps %+v; want tls without MTA-STS and a failed fetch step", d.Method, d.MTASTSMode, d.Steps)
	}
}

func hasStep(d delivery.Decision, name string, ok bool, detail string) bool {
	for _, s := range d.Steps {
		if s.Name == name && s.OK == ok && strings.Contains(s.Detail, detail) {
			return true
		}
	}
	return false
}
