package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// errNoSuchDomain is an authoritative NXDOMAIN: the name does not exist.
var errNoSuchDomain = errors.New("no such domain")

// resolver asks one configured DNS server and nothing else. It never uses
// net.DefaultResolver: in tests and `make run` the configured server is a
// loopback one that knows only made-up domains, and in production the
// configured server is the one whose DNSSEC validation (AD bit) we trust.
type resolver struct {
	addr    string
	timeout time.Duration
}

// answer is the records of the asked type and whether the resolver vouched
// for them with the AD bit.
type answer struct {
	records []dns.RR
	secure  bool
}

// query asks over UDP and repeats over TCP when the answer was truncated
// (RFC 7766 §5). NXDOMAIN is errNoSuchDomain; an empty answer (NODATA) is
// not an error.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (answer, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	// Ask for the AD bit explicitly (RFC 6840 §5.7) and room for large
	// TXT/TLSA answers over UDP.
	m.AuthenticatedData = true
	m.SetEdns0(4096, false)

	resp, err := r.exchange(ctx, "udp", m)
	if err == nil && resp.Truncated {
		resp, err = r.exchange(ctx, "tcp", m)
	}
	if err != nil {
		return answer{}, fmt.Errorf("%s lookup of %s: %w", dns.TypeToString[qtype], name, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return answer{secure: resp.AuthenticatedData}, fmt.Errorf("%s lookup of %s: %w", dns.TypeToString[qtype], name, errNoSuchDomain)
	default:
		return answer{}, fmt.Errorf("%s lookup of %s: server answered %s", dns.TypeToString[qtype], name, dns.RcodeToString[resp.Rcode])
	}
	out := answer{secure: resp.AuthenticatedData}
	for _, rr := range resp.Answer {
		// Keep only the asked type: a recursive resolver also returns the
		// CNAME chain that led to it.
		if rr.Header().Rrtype == qtype {
			out.records = append(out.records, rr)
		}
	}
	return out, nil
}

func (r *resolver) exchange(ctx context.Context, network string, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	c := &dns.Client{Net: network, Timeout: r.timeout}
	resp, _, err := c.ExchangeContext(ctx, m, r.addr)
	return resp, err
}

// mxHost is one MX record's target.
type mxHost struct {
	Host       string
	Preference uint16
}

// mx returns the domain's MX hosts in preference order and whether the MX
// RRset was DNSSEC-secure. No MX records means the domain itself is the
// implicit MX (RFC 5321 §5.1); a null MX (RFC 7505) returns errNullMX.
func (r *resolver) mx(ctx context.Context, domain string) ([]mxHost, bool, error) {
	ans, err := r.query(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, false, err
	}
	if len(ans.records) == 0 {
		return []mxHost{{Host: domain}}, ans.secure, nil
	}
	var hosts []mxHost
	for _, rr := range ans.records {
		mx := rr.(*dns.MX)
		if mx.Mx == "." {
			return nil, ans.secure, errNullMX
		}
		hosts = append(hosts, mxHost{Host: strings.ToLower(strings.TrimSuffix(mx.Mx, ".")), Preference: mx.Preference})
	}
	slices.SortStableFunc(hosts, func(a, b mxHost) int { return int(a.Preference) - int(b.Preference) })
	return hosts, ans.secure, nil
}

var errNullMX = errors.New("null MX")

// addrs returns host's IPv4 then IPv6 addresses.
func (r *resolver) addrs(ctx context.Context, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	var errs []error
	for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := r.query(ctx, host, qtype)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, rr := range ans.records {
			switch rr := rr.(type) {
			case *dns.A:
				out = appendAddr(out, rr.A)
			case *dns.AAAA:
				out = appendAddr(out, rr.AAAA)
			}
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return nil, fmt.Errorf("%s has no address records", host)
}

func appendAddr(out []netip.Addr, ip []byte) []netip.Addr {
	if a, ok := netip.AddrFromSlice(ip); ok {
		out = append(out, a.Unmap())
	}
	return out
}

// txt returns each TXT record as one string, its character-strings joined
// (RFC 8461 §3.1 reads the record that way).
func (r *resolver) txt(ctx context.Context, name string) ([]string, error) {
	ans, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ans.records))
	for _, rr := range ans.records {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, nil
}

// tlsa returns the TLSA records at name and whether they are secure.
func (r *resolver) tlsa(ctx context.Context, name string) ([]*dns.TLSA, bool, error) {
	ans, err := r.query(ctx, name, dns.TypeTLSA)
	if err != nil {
		return nil, ans.secure, err
	}
	out := make([]*dns.TLSA, 0, len(ans.records))
	for _, rr := range ans.records {
		out = append(out, rr.(*dns.TLSA))
	}
	return out, ans.secure, nil
}
