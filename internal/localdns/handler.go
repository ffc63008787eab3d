package localdns

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// ServeDNS answers one query as an authoritative-only server: REFUSED for
// names outside its zones (it never recurses, RFC 1035 §4.1.1), NXDOMAIN for
// names that do not exist in a zone, NOERROR with no answer (NODATA) for
// names that exist without records of the asked type. Negative answers carry
// the zone's SOA so resolvers can cache them (RFC 2308 §3).
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if req.Opcode != dns.OpcodeQuery || len(req.Question) != 1 {
		resp.Rcode = dns.RcodeNotImplemented
		_ = w.WriteMsg(resp)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)

	s.mu.RLock()
	zone := s.zoneLocked(name)
	var answer []dns.RR
	exists := false
	if zone != "" {
		resp.AuthenticatedData = s.zones[zone]
		answer, exists = s.lookupLocked(name, q.Qtype)
	}
	s.mu.RUnlock()

	switch {
	case zone == "":
		resp.Rcode = dns.RcodeRefused
	case !exists:
		resp.Authoritative = true
		resp.Rcode = dns.RcodeNameError
		resp.Ns = []dns.RR{soa(zone)}
	case len(answer) == 0:
		resp.Authoritative = true
		resp.Ns = []dns.RR{soa(zone)}
	default:
		resp.Authoritative = true
		resp.Answer = answer
	}
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(uint16(udpSize(req)), false) // RFC 6891 §7: answer EDNS with EDNS
	}
	if _, udp := w.LocalAddr().(*net.UDPAddr); udp {
		// Sets TC when the answer does not fit, so the client retries over
		// TCP (RFC 7766 §5): large TXT records must still arrive whole.
		resp.Truncate(udpSize(req))
	}
	_ = w.WriteMsg(resp)
}

// lookupLocked returns copies of name's records of type qtype and whether
// the name exists at all. An empty non-terminal (a name with records only
// below it, such as "_tcp.mx.example" under "_25._tcp.mx.example") exists
// (RFC 8020).
func (s *Server) lookupLocked(name string, qtype uint16) ([]dns.RR, bool) {
	var out []dns.RR
	for _, rr := range s.records[name] {
		if rr.Header().Rrtype == qtype {
			out = append(out, dns.Copy(rr))
		}
	}
	if len(s.records[name]) > 0 {
		return out, true
	}
	if _, apex := s.zones[name]; apex {
		return out, true
	}
	for owner := range s.records {
		if strings.HasSuffix(owner, "."+name) {
			return out, true
		}
	}
	return out, false
}

func udpSize(req *dns.Msg) int {
	if opt := req.IsEdns0(); opt != nil && opt.UDPSize() > dns.MinMsgSize {
		return int(opt.UDPSize())
	}
	return dns.MinMsgSize
}

func soa(zone string) dns.RR {
	return &dns.SOA{
		Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns:  "ns." + zone, Mbox: "hostmaster." + zone,
		Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: ttl,
	}
}
