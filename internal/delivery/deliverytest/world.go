package deliverytest

import (
	"fmt"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/localdns"
)

// World is a small Internet on loopback: a DNS server answering only the
// test's domains, a test CA, SMTP peers and an MTA-STS policy server.
// Settings points delivery at it and at nothing else.
type World struct {
	DNS    *localdns.Server
	CA     *CA
	CAFile string

	t        testing.TB
	smtpPort int
	sts      *MTASTSServer
}

// NewWorld starts the DNS server and the MTA-STS policy server (which
// serves nothing until MTASTS is called) and makes the CA; everything stops
// when the test ends.
func NewWorld(t testing.TB) *World {
	t.Helper()
	dns := localdns.New("127.0.0.1:0")
	if err := dns.Start(); err != nil {
		t.Fatalf("deliverytest: start DNS: %v", err)
	}
	t.Cleanup(func() { _ = dns.Close() })
	ca := NewCA(t)
	return &World{DNS: dns, CA: ca, CAFile: ca.WriteFile(t), t: t, sts: StartMTASTS(t, ca, "127.0.0.1")}
}

// Settings are delivery settings that reach only this world, with short
// timeouts so a failing test fails quickly. Call it after StartPeers,
// which fixes the SMTP port.
func (w *World) Settings() delivery.Settings {
	s := delivery.Settings{
		Resolver:       w.DNS.Addr(),
		SMTPPort:       w.smtpPort,
		CAFile:         w.CAFile,
		HELO:           "portal.test",
		DNSTimeout:     2 * time.Second,
		ConnectTimeout: 5 * time.Second,
		CommandTimeout: 5 * time.Second,
		DataTimeout:    10 * time.Second,
		MTASTSTimeout:  5 * time.Second,
		MTASTSPort:     w.sts.Port,
	}
	if w.smtpPort == 0 {
		s.SMTPPort = 1 // no peers: nothing listens there, nothing real is reached
	}
	return s
}

// StartPeers starts the world's MX hosts (once per world: they share one
// port, which Settings reports) and publishes each Host's address.
func (w *World) StartPeers(cfgs ...PeerConfig) []*Peer {
	w.t.Helper()
	if w.smtpPort != 0 {
		w.t.Fatal("deliverytest: StartPeers called twice on one World")
	}
	peers := StartPeers(w.t, cfgs...)
	for _, p := range peers {
		w.must(w.DNS.AddA(p.Host, p.IP))
	}
	w.smtpPort = peers[0].Port
	return peers
}

// MX publishes MX records for domain, hosts in order of preference.
func (w *World) MX(domain string, hosts ...string) {
	w.t.Helper()
	w.DNS.AddZone(domain)
	for i, h := range hosts {
		w.must(w.DNS.AddMX(domain, h, uint16(10*(i+1))))
	}
}

// MTASTS publishes "_mta-sts.<domain> TXT v=STSv1; id=<id>" and serves
// policy at mta-sts.<domain>.
func (w *World) MTASTS(domain, id, policy string) *MTASTSServer {
	w.t.Helper()
	w.DNS.AddZone(domain)
	w.DNS.Remove("_mta-sts." + domain)
	w.DNS.AddTXT("_mta-sts."+domain, fmt.Sprintf("v=STSv1; id=%s;", id))
	w.DNS.Remove("mta-sts." + domain)
	w.must(w.DNS.AddA("mta-sts."+domain, w.sts.IP))
	w.sts.SetPolicy(domain, policy)
	return w.sts
}

func (w *World) must(err error) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("deliverytest: %v", err)
	}
}
