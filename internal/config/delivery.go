package config

import (
	"os"
	"strings"
	"time"
)

// Delivery configures TLS-first delivery (DESIGN.md §7): outbound mail
// straight to providers' servers over verified TLS, and replies by email
// coming back on the portal's own SMTP listener.
type Delivery struct {
	// Mode is "portal-only" (every message waits in the portal; the
	// default) or "tls-first".
	Mode string
	// Resolver is the host:port of the DNS server for MX, TXT, TLSA and A
	// lookups; empty is the system's (/etc/resolv.conf).
	Resolver string
	// SMTPPort is the port of providers' mail servers (25).
	SMTPPort int
	// CAFile holds roots trusted besides the system's (PEM).
	CAFile string
	// MTASTSPort is the HTTPS port of mta-sts.<domain> (443).
	MTASTSPort int
	// HELO is the name the portal gives in EHLO (the base URL's host).
	HELO string
	// CheckTTL and FailureTTL are how long a domain's check is reused.
	CheckTTL   time.Duration
	FailureTTL time.Duration
	// FallbackAfter is how long temporary failures (4xx, timeouts) are
	// retried before the message is held in the portal instead.
	FallbackAfter time.Duration

	// InboundAddr is where the SMTP listener for emailed replies listens
	// ("" is off); it requires STARTTLS with InboundCert/InboundKey.
	InboundAddr string
	InboundCert string
	InboundKey  string
	// ReplyDomain is the domain of reply addresses reply+<token>@ReplyDomain,
	// whose MX points at InboundAddr.
	ReplyDomain string

	// DKIMSelector and DKIMKeyFile sign TLS-delivered mail when both set.
	DKIMSelector string
	DKIMKeyFile  string
}

// TLSFirst reports whether messages go straight to providers' mail servers
// when those take verified TLS.
func (d Delivery) TLSFirst() bool { return d.Mode == "tls-first" }

func (l *loader) delivery(c *Config) Delivery {
	d := Delivery{
		Mode:          l.oneOf("PORTAL_DELIVERY_MODE", "portal-only", "portal-only", "tls-first"),
		Resolver:      l.str("PORTAL_DNS_RESOLVER", ""),
		SMTPPort:      l.count("PORTAL_DELIVERY_SMTP_PORT", 25),
		CAFile:        l.str("PORTAL_DELIVERY_CA_FILE", ""),
		MTASTSPort:    l.count("PORTAL_MTA_STS_PORT", 443),
		HELO:          l.str("PORTAL_DELIVERY_HELO", c.BaseURL.Hostname()),
		CheckTTL:      l.duration("PORTAL_DELIVERY_CHECK_TTL", time.Hour),
		FailureTTL:    l.duration("PORTAL_DELIVERY_FAILURE_TTL", 15*time.Minute),
		FallbackAfter: l.duration("PORTAL_DELIVERY_FALLBACK_AFTER", time.Hour),
		InboundAddr:   l.str("PORTAL_SMTP_INBOUND_ADDR", ""),
		InboundCert:   l.str("PORTAL_SMTP_INBOUND_CERT", c.TLSCert),
		InboundKey:    l.str("PORTAL_SMTP_INBOUND_KEY", c.TLSKey),
		ReplyDomain:   strings.ToLower(strings.TrimSuffix(l.str("PORTAL_REPLY_DOMAIN", ""), ".")),
		DKIMSelector:  l.str("PORTAL_DKIM_SELECTOR", ""),
		DKIMKeyFile:   l.str("PORTAL_DKIM_KEY_FILE", ""),
	}
	if d.Resolver != "" {
		l.checkAddr("PORTAL_DNS_RESOLVER", d.Resolver)
	}
	for _, port := range []struct {
		name string
		n    int
	}{{"PORTAL_DELIVERY_SMTP_PORT", d.SMTPPort}, {"PORTAL_MTA_STS_PORT", d.MTASTSPort}} {
		if port.n > 65535 {
			l.fail(port.name, "must be a port number up to 65535 (got %d)", port.n)
		}
	}
	l.readable("PORTAL_DELIVERY_CA_FILE", d.CAFile)
	if d.InboundAddr != "" {
		l.checkAddr("PORTAL_SMTP_INBOUND_ADDR", d.InboundAddr)
		if d.InboundCert == "" || d.InboundKey == "" {
			l.fail("PORTAL_SMTP_INBOUND_ADDR", "needs a certificate: replies are taken only over STARTTLS (set PORTAL_SMTP_INBOUND_CERT and PORTAL_SMTP_INBOUND_KEY, or PORTAL_TLS_CERT and PORTAL_TLS_KEY)")
		}
		l.readable("PORTAL_SMTP_INBOUND_CERT", d.InboundCert)
		l.readable("PORTAL_SMTP_INBOUND_KEY", d.InboundKey)
	}
	if (d.InboundAddr != "" || d.TLSFirst()) && d.ReplyDomain == "" {
		l.fail("PORTAL_REPLY_DOMAIN", "is required with PORTAL_DELIVERY_MODE=tls-first or PORTAL_SMTP_INBOUND_ADDR: replies to TLS-delivered mail are addressed to reply+<token>@ that domain")
	}
	if (d.DKIMSelector == "") != (d.DKIMKeyFile == "") {
		l.fail("PORTAL_DKIM_SELECTOR", "and PORTAL_DKIM_KEY_FILE go together: set both or neither")
	}
	l.readable("PORTAL_DKIM_KEY_FILE", d.DKIMKeyFile)
	return d
}

// readable checks that an optional file setting names a file that can be
// read now, rather than failing at the first delivery.
func (l *loader) readable(name, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		l.fail(name, "cannot be read: %v", err)
		return
	}
	f.Close()
}
