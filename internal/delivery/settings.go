package delivery

import (
	"fmt"
	"net"
	"time"

	"github.com/miekg/dns"
)

// Settings configure TLS-first delivery. They come from internal/config
// (PORTAL_DNS_RESOLVER, PORTAL_DELIVERY_SMTP_PORT, ...) and are passed in;
// nothing here reads the environment. Zero values take the defaults below.
type Settings struct {
	// Resolver is the host:port of the DNS server for MX, A/AAAA, TXT and
	// TLSA lookups. Empty means the first nameserver of /etc/resolv.conf.
	// The AD bit of its answers is trusted (DANE), so in production it
	// should be a validating resolver on the same host, as Postfix expects.
	Resolver string
	// SMTPPort is the port of recipients' MX hosts (25).
	SMTPPort int
	// CAFile is a PEM file of roots trusted in addition to the system's.
	CAFile string
	// MTASTSPort is the HTTPS port of mta-sts.<domain> (443).
	MTASTSPort int
	// HELO is the name this sender gives in EHLO (RFC 5321 §4.1.1.1: its
	// own fully qualified name).
	HELO string

	// SuccessTTL and FailureTTL bound how long a decision is reused: a
	// failure is re-checked sooner so a provider who fixes TLS is
	// noticed within minutes.
	SuccessTTL time.Duration
	FailureTTL time.Duration

	DNSTimeout     time.Duration // one DNS exchange
	ConnectTimeout time.Duration // TCP connect to an MX or policy host
	CommandTimeout time.Duration // one SMTP reply or the TLS handshake
	DataTimeout    time.Duration // the reply after the message's final dot
	MTASTSTimeout  time.Duration // fetching one MTA-STS policy

	// Now is the clock (tests move it); nil means time.Now.
	Now func() time.Time
}

// Defaults, chosen from the RFCs' advice where they give one.
const (
	DefaultSMTPPort   = 25
	DefaultMTASTSPort = 443
	DefaultSuccessTTL = time.Hour
	DefaultFailureTTL = 15 * time.Minute
)

// withDefaults fills zero values and finds the system resolver if none is
// configured. A configured resolver is never second-guessed: lookups go to
// it or fail, never to the system resolver.
func (s Settings) withDefaults() (Settings, error) {
	if s.Resolver == "" {
		conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(conf.Servers) == 0 {
			return s, fmt.Errorf("delivery: no DNS resolver configured and none in /etc/resolv.conf: %w", err)
		}
		s.Resolver = net.JoinHostPort(conf.Servers[0], conf.Port)
	}
	// An IP address, not a name: resolving the resolver's own name would
	// ask the system resolver, which a configured resolver must replace.
	host, _, err := net.SplitHostPort(s.Resolver)
	if err != nil {
		return s, fmt.Errorf("delivery: resolver %q: %w", s.Resolver, err)
	}
	if net.ParseIP(host) == nil {
		return s, fmt.Errorf("delivery: resolver %q must be an IP address and port", s.Resolver)
	}
	setDefault(&s.SMTPPort, DefaultSMTPPort)
	setDefault(&s.MTASTSPort, DefaultMTASTSPort)
	if s.HELO == "" {
		s.HELO = "localhost"
	}
	setDefault(&s.SuccessTTL, DefaultSuccessTTL)
	setDefault(&s.FailureTTL, DefaultFailureTTL)
	setDefault(&s.DNSTimeout, 5*time.Second)
	setDefault(&s.ConnectTimeout, 30*time.Second)
	// RFC 5321 §4.5.3.2 suggests minutes per reply; a probe that waits that
	// long would stall a compose page, so replies get one minute.
	setDefault(&s.CommandTimeout, time.Minute)
	setDefault(&s.DataTimeout, 10*time.Minute) // RFC 5321 §4.5.3.2.6
	setDefault(&s.MTASTSTimeout, time.Minute)  // RFC 8461 §3.3
	if s.Now == nil {
		s.Now = time.Now
	}
	return s, nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
