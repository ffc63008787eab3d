package deliverytest

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
)

// mainCF is the whole configuration: nothing is inherited from
// /etc/postfix/main.cf, only compiled-in defaults.
func (p *Postfix) mainCF() string {
	addrs := slices.Sorted(maps.Keys(p.cfg.Mailboxes))
	var domains, boxes []string
	for _, a := range addrs {
		domain := a[strings.LastIndexByte(a, '@')+1:]
		if !slices.Contains(domains, domain) {
			domains = append(domains, domain)
		}
		boxes = append(boxes, a+"="+p.cfg.Mailboxes[a])
	}
	restrictions := ""
	if p.cfg.Hold {
		restrictions = "check_recipient_access static:HOLD"
	}
	lines := []string{
		"compatibility_level = 3.6",
		"queue_directory = " + filepath.Join(p.Dir, "queue"),
		"data_directory = " + filepath.Join(p.Dir, "data"),
		"maillog_file = " + filepath.Join(p.Dir, "maillog"),
		"maillog_file_prefixes = " + p.Dir,
		"myhostname = " + p.cfg.Host,
		"myorigin = $myhostname",
		// Postfix insists that inet_interfaces be addresses of an
		// interface; 127.0.0.9 is routed to lo but not assigned to it.
		// The services in master.cf bind their own addresses, so this only
		// tells Postfix which address is its own.
		"inet_interfaces = 127.0.0.1",
		"inet_protocols = ipv4",
		// The final destination for the mailbox domains only: no local
		// delivery, no relaying, and no transport that leaves this host
		// (bounces and notices go to the error transport and die there).
		"mydestination =",
		"relay_domains =",
		"relayhost =",
		"mynetworks = 127.0.0.1/32",
		"smtpd_relay_restrictions = reject_unauth_destination",
		"smtpd_recipient_restrictions = " + restrictions,
		"default_transport = error:this test Postfix sends no mail",
		"relay_transport = error:this test Postfix sends no mail",
		"local_transport = error:this test Postfix has no local delivery",
		"alias_maps =",
		"alias_database =",
		"biff = no",
		// No DNS at all: no client name lookups; and the SMTP client,
		// which has no service in master.cf anyway, would not look up.
		"smtpd_peername_lookup = no",
		"smtp_dns_support_level = disabled",
		"virtual_mailbox_domains = " + strings.Join(domains, ", "),
		"virtual_mailbox_base = " + filepath.Join(p.Dir, "mail"),
		"virtual_mailbox_maps = inline:{" + strings.Join(boxes, ", ") + "}",
		fmt.Sprintf("virtual_uid_maps = static:%d", p.virtualIDs[0]),
		fmt.Sprintf("virtual_gid_maps = static:%d", p.virtualIDs[1]),
		"smtpd_tls_cert_file = " + p.etc("cert.pem"),
		"smtpd_tls_key_file = " + p.etc("key.pem"),
		"smtpd_tls_security_level = may",
		// Received: ... (using TLSv1.3 with cipher ...)
		"smtpd_tls_received_header = yes",
		"smtpd_tls_loglevel = 1",
		// A released message is retried within a second even if
		// "postqueue -i" is not heard.
		"queue_run_delay = 1s",
		"minimal_backoff_time = 1s",
		"maximal_backoff_time = 2s",
	}
	return strings.Join(lines, "\n") + "\n"
}

// masterCF lists only the services a receiving MTA needs, none chrooted;
// there is no smtp, lmtp, local or pipe service, so nothing can leave.
func (p *Postfix) masterCF() string {
	services := []string{
		fmt.Sprintf("%s:%d inet n - n - - smtpd", p.IP, p.Port),
	}
	if p.PlainIP != "" {
		host := p.cfg.PlainHost
		if host == "" {
			host = p.cfg.Host
		}
		services = append(services, fmt.Sprintf("%s:%d inet n - n - - smtpd\n"+
			"  -o syslog_name=postfix-plain\n  -o myhostname=%s\n  -o smtpd_tls_security_level=none", p.PlainIP, p.Port, host))
	}
	services = append(services,
		"pickup    unix  n - n 60 1 pickup",
		"cleanup   unix  n - n -  0 cleanup",
		"qmgr      unix  n - n 300 1 qmgr",
		"tlsmgr    unix  - - n 1000? 1 tlsmgr",
		"rewrite   unix  - - n - - trivial-rewrite",
		"bounce    unix  - - n - 0 bounce",
		"defer     unix  - - n - 0 bounce",
		"trace     unix  - - n - 0 bounce",
		"verify    unix  - - n - 1 verify",
		"flush     unix  n - n 1000? 0 flush",
		"proxymap  unix  - - n - - proxymap",
		"showq     unix  n - n - - showq",
		"error     unix  - - n - - error",
		"retry     unix  - - n - - error",
		"discard   unix  - - n - - discard",
		"virtual   unix  - n n - - virtual",
		"anvil     unix  - - n - 1 anvil",
		"scache    unix  - - n - 1 scache",
		"postlog   unix-dgram n - n - 1 postlogd",
	)
	return strings.Join(services, "\n") + "\n"
}
