package inbound_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/miekg/dns"

	"github.com/healthnet/secureportal/internal/inbound"
)

// keyServer is a DNS server on loopback that publishes one DKIM key under
// each of names and answers NXDOMAIN to everything else; queries counts
// what it was asked.
type keyServer struct {
	addr    string
	queries atomic.Int32
}

func newKeyServer(t *testing.T, key ed25519.PublicKey, names ...string) *keyServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ks := &keyServer{addr: pc.LocalAddr().String()}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key)
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(rw dns.ResponseWriter, q *dns.Msg) {
		ks.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		if len(q.Question) == 1 && q.Question[0].Qtype == dns.TypeTXT && slices.Contains(names, strings.ToLower(q.Question[0].Name)) {
			m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{record}}}
		} else {
			m.Rcode = dns.RcodeNameError
		}
		rw.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return ks
}

// sign adds a DKIM-Signature of domain, selector s1.
func sign(t *testing.T, msg []byte, domain string, key ed25519.PrivateKey) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: "s1", Signer: key}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// The DKIM result is checked against the configured resolver only, kept
// with the stored reply for the caller and logged. Only a signature of the
// sender's domain passes; a reply is stored whatever its result.
func TestInboundRecordsDKIMResult(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// elsewhere.test publishes the same key: its signature verifies, but it
	// is not the sender's domain.
	keys := newKeyServer(t, pub, "s1._domainkey.clinic.test.", "s1._domainkey.elsewhere.test.")
	w := newWorld(t, func(s *inbound.Settings) { s.Resolver = keys.addr }, nil)
	unsigned := compose(providerEmail, w.replyAddress(), "Signed reply.\r\n")
	signed := sign(t, unsigned, "clinic.test", priv)
	cases := []struct {
		name    string
		message []byte
		want    inbound.DKIMResult
	}{
		{"signed by the sender's domain", signed, inbound.DKIMPass},
		{"altered after signing", bytes.Replace(signed, []byte("Signed reply."), []byte("Forged reply."), 1), inbound.DKIMFail},
		{"signed with another key", sign(t, unsigned, "clinic.test", otherKey), inbound.DKIMFail},
		{"signed by another domain", sign(t, unsigned, "elsewhere.test", priv), inbound.DKIMFail},
		{"unsigned", unsigned, inbound.DKIMNone},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantAnswer(t, c.name, w.send(providerEmail, w.replyAddress(), c.message), "")
			if r := <-w.received; r.DKIM != c.want {
				t.Errorf("DKIM %q, want %q", r.DKIM, c.want)
			}
			if logs := w.logs.String(); !strings.Contains(logs, `"dkim":"`+string(c.want)+`"`) {
				t.Errorf("log lacks dkim=%s:\n%s", c.want, logs)
			}
		})
	}
	if keys.queries.Load() == 0 {
		t.Error("the configured resolver was never asked")
	}
}

// With no resolver configured, signatures are not checked: the result is
// "none" even for a good signature.
func TestInboundWithoutResolverRecordsNoDKIM(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, nil, nil)
	wantAnswer(t, "signed reply", w.send(providerEmail, w.replyAddress(), sign(t, compose(providerEmail, w.replyAddress(), "Signed."), "clinic.test", priv)), "")
	if r := <-w.received; r.DKIM != inbound.DKIMNone {
		t.Errorf("DKIM %q, want none", r.DKIM)
	}
}
