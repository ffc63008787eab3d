package localdns

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func startServer(t *testing.T) *Server {
	t.Helper()
	s := New("127.0.0.1:0")
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func query(t *testing.T, s *Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network}
	resp, _, err := c.Exchange(m, s.Addr())
	if err != nil {
		t.Fatalf("%s query %s %s: %v", network, name, dns.TypeToString[qtype], err)
	}
	return resp
}

func TestServerAnswersOnlyItsZonesAndNeverRecurses(t *testing.T) {
	s := startServer(t)
	if err := s.AddMX("clinic.example", "mx.clinic.example", 10); err != nil {
		t.Fatal(err)
	}
	if err := s.AddA("mx.clinic.example", "127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	s.AddNullMX("nomail.example")
	s.AddTXT("_mta-sts.clinic.example", "v=STSv1; id=1")
	s.AddTLSA("_25._tcp.mx.clinic.example", 3, 1, 1, []byte{0xab, 0xcd})

	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answers int
		want    string // in the first answer
	}{
		{"MX of a zone", "clinic.example", dns.TypeMX, dns.RcodeSuccess, 1, "mx.clinic.example."},
		{"A below a zone", "MX.Clinic.Example", dns.TypeA, dns.RcodeSuccess, 1, "127.0.0.2"},
		{"null MX", "nomail.example", dns.TypeMX, dns.RcodeSuccess, 1, "MX\t0 ."},
		{"TXT", "_mta-sts.clinic.example", dns.TypeTXT, dns.RcodeSuccess, 1, "v=STSv1; id=1"},
		{"TLSA", "_25._tcp.mx.clinic.example", dns.TypeTLSA, dns.RcodeSuccess, 1, "3 1 1 abcd"},
		{"existing name, other type: NODATA", "clinic.example", dns.TypeA, dns.RcodeSuccess, 0, ""},
		{"empty non-terminal: NODATA", "_tcp.mx.clinic.example", dns.TypeTLSA, dns.RcodeSuccess, 0, ""},
		{"unknown name in a zone: NXDOMAIN", "nothere.clinic.example", dns.TypeA, dns.RcodeNameError, 0, ""},
		{"a real domain: REFUSED", "example.com", dns.TypeA, dns.RcodeRefused, 0, ""},
		{"parent of a zone: REFUSED", "example", dns.TypeMX, dns.RcodeRefused, 0, ""},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				resp := query(t, s, network, tt.qname, tt.qtype)
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if resp.RecursionAvailable {
					t.Error("RA set: the server must not offer recursion")
				}
				if len(resp.Answer) != tt.answers {
					t.Fatalf("answers = %v, want %d", resp.Answer, tt.answers)
				}
				if tt.answers > 0 && !strings.Contains(resp.Answer[0].String(), tt.want) {
					t.Errorf("answer %q lacks %q", resp.Answer[0].String(), tt.want)
				}
				if tt.rcode != dns.RcodeRefused && !resp.Authoritative {
					t.Error("AA not set on an answer from its own zone")
				}
			})
		}
	}
}

func TestAuthenticatedZonesSetTheADBit(t *testing.T) {
	s := startServer(t)
	s.AddNullMX("signed.example")
	s.AddNullMX("unsigned.example")
	s.SetAuthenticated("signed.example", true)

	if !query(t, s, "udp", "signed.example", dns.TypeMX).AuthenticatedData {
		t.Error("signed zone: AD not set")
	}
	if query(t, s, "udp", "unsigned.example", dns.TypeMX).AuthenticatedData {
		t.Error("unsigned zone: AD set")
	}
}

func TestLargeAnswerTruncatesOverUDPAndArrivesWholeOverTCP(t *testing.T) {
	s := startServer(t)
	for i := range 8 {
		s.AddTXT("big.example", strings.Repeat(string(rune('a'+i)), 200))
	}
	if resp := query(t, s, "udp", "big.example", dns.TypeTXT); !resp.Truncated {
		t.Errorf("UDP answer of %d records not truncated", len(resp.Answer))
	}
	if resp := query(t, s, "tcp", "big.example", dns.TypeTXT); len(resp.Answer) != 8 {
		t.Errorf("TCP answers = %d, want 8", len(resp.Answer))
	}
}

func TestRemoveDropsRecordsButKeepsTheZone(t *testing.T) {
	s := startServer(t)
	s.AddZone("clinic.example")
	s.AddTXT("_mta-sts.clinic.example", "v=STSv1; id=1")
	s.Remove("_mta-sts.clinic.example")
	if resp := query(t, s, "udp", "_mta-sts.clinic.example", dns.TypeTXT); resp.Rcode != dns.RcodeNameError {
		t.Errorf("after Remove: rcode %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
	}
}

func TestStartRefusesNonLoopbackAddresses(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:53"} {
		if err := New(addr).Start(); err == nil {
			t.Errorf("Start(%q) succeeded", addr)
		}
	}
}
