package localdns

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// AddZone makes the server authoritative for name and everything below it.
// Adding a record outside every zone creates a zone at the record's name,
// so AddZone is needed only for a zone that should exist while empty or
// whose apex has no records of its own.
func (s *Server) AddZone(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addZoneLocked(fqdn(name))
}

func (s *Server) addZoneLocked(apex string) {
	if _, ok := s.zones[apex]; !ok {
		s.zones[apex] = false
	}
}

// SetAuthenticated makes answers from zone carry the AD (authentic data)
// bit, the way a DNSSEC-validating resolver marks data it validated
// (RFC 4035 §3.2.3, RFC 6840 §5.7). DANE (RFC 7672) trusts TLSA and MX
// records only with that bit, so tests switch it on per zone.
func (s *Server) SetAuthenticated(zone string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.zones[fqdn(zone)] = on
}

// AddA adds address records for name: A for IPv4, AAAA for IPv6.
func (s *Server) AddA(name string, ips ...string) error {
	for _, ip := range ips {
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("localdns: address for %s: %w", name, err)
		}
		if addr.Is4() {
			s.add(&dns.A{Hdr: header(name, dns.TypeA), A: addr.AsSlice()})
		} else {
			s.add(&dns.AAAA{Hdr: header(name, dns.TypeAAAA), AAAA: addr.AsSlice()})
		}
	}
	return nil
}

// AddMX adds an MX record for domain pointing at host with the given
// preference (lower is tried first, RFC 5321 §5.1).
func (s *Server) AddMX(domain, host string, preference uint16) error {
	if strings.TrimSpace(host) == "" || host == "." {
		return fmt.Errorf("localdns: MX host for %s is empty (use AddNullMX)", domain)
	}
	s.add(&dns.MX{Hdr: header(domain, dns.TypeMX), Preference: preference, Mx: fqdn(host)})
	return nil
}

// AddNullMX publishes "MX 0 ." for domain: the domain accepts no mail at
// all (RFC 7505).
func (s *Server) AddNullMX(domain string) {
	s.add(&dns.MX{Hdr: header(domain, dns.TypeMX), Preference: 0, Mx: "."})
}

// AddTXT adds one TXT record for name. A long text is split into 255-octet
// character-strings, which readers concatenate (RFC 7208 §3.3 does the same
// for SPF; RFC 8461 §3.1 for MTA-STS).
func (s *Server) AddTXT(name, text string) {
	var parts []string
	for len(text) > 255 {
		parts = append(parts, text[:255])
		text = text[255:]
	}
	parts = append(parts, text)
	s.add(&dns.TXT{Hdr: header(name, dns.TypeTXT), Txt: parts})
}

// AddTLSA adds a TLSA record (RFC 6698) for name, usually
// "_25._tcp.<mx host>". data is the certificate association data as bytes
// (for matching type 1, a SHA-256 digest).
func (s *Server) AddTLSA(name string, usage, selector, matchingType uint8, data []byte) {
	s.add(&dns.TLSA{
		Hdr: header(name, dns.TypeTLSA), Usage: usage, Selector: selector,
		MatchingType: matchingType, Certificate: hex.EncodeToString(data),
	})
}

// Remove deletes every record of name, so a test can make a record
// disappear (a withdrawn MTA-STS TXT record, say). The zone stays.
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, fqdn(name))
}

func (s *Server) add(rr dns.RR) {
	s.mu.Lock()
	defer s.mu.Unlock()
	owner := rr.Header().Name
	if s.zoneLocked(owner) == "" {
		s.addZoneLocked(owner)
	}
	s.records[owner] = append(s.records[owner], rr)
}

// zoneLocked returns the closest enclosing zone apex of name, or "".
func (s *Server) zoneLocked(name string) string {
	for n := name; ; {
		if _, ok := s.zones[n]; ok {
			return n
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return ""
		}
		n = n[i+1:]
	}
}

func header(name string, rrtype uint16) dns.RR_Header {
	return dns.RR_Header{Name: fqdn(name), Rrtype: rrtype, Class: dns.ClassINET, Ttl: ttl}
}

func fqdn(name string) string { return dns.Fqdn(strings.ToLower(strings.TrimSpace(name))) }
