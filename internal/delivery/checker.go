package delivery

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// maxMXHosts bounds how many MX hosts one check tries, so a domain with a
// long MX list cannot stall a compose page (RFC 5321 §5.1 asks for at
// least the first two to be tried).
const maxMXHosts = 5

// Checker works out, for one recipient domain, whether mail can go over
// verified TLS: MTA-STS (RFC 8461), then DANE (RFC 7672) and the probe of
// each MX host in preference order. It does not apply admin policy or
// cache decisions; Router does.
type Checker struct {
	s      Settings
	dns    *resolver
	verify *verifier
	sts    *mtastsSource
	log    *slog.Logger
}

// NewChecker returns a checker for s; cache holds MTA-STS policies.
func NewChecker(s Settings, cache MTASTSCache, log *slog.Logger) (*Checker, error) {
	s, r, v, err := prepare(s)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sts := &mtastsSource{dns: r, cache: cache, client: policyClient(s, r, v.roots), port: s.MTASTSPort, now: s.Now, log: log}
	return &Checker{s: s, dns: r, verify: v, sts: sts, log: log}, nil
}

// prepare fills defaults and builds what both the checker and the
// transport need, so both verify exactly alike.
func prepare(s Settings) (Settings, *resolver, *verifier, error) {
	s, err := s.withDefaults()
	if err != nil {
		return s, nil, nil, err
	}
	roots, err := loadRoots(s.CAFile)
	if err != nil {
		return s, nil, nil, err
	}
	return s, &resolver{addr: s.Resolver, timeout: s.DNSTimeout}, &verifier{roots: roots, now: s.Now}, nil
}

// Check decides for domain. Every failure of the recipient's side is a
// portal Decision with its reason; the error is only for an invalid domain
// or a cancelled ctx (so a shutdown is never cached as a verdict).
func (c *Checker) Check(ctx context.Context, domain string) (Decision, error) {
	domain, err := NormalizeDomain(domain)
	if err != nil {
		return Decision{}, err
	}
	now := c.s.Now()
	d := Decision{Domain: domain, Method: MethodPortal, Policy: PolicyTLSPreferred, NotifyAllowed: true, CheckedAt: now}

	sts, step := c.sts.policy(ctx, domain)
	d.Steps = append(d.Steps, step)
	if sts != nil {
		d.MTASTSMode = sts.Mode
	}
	hosts, secure, err := c.dns.mx(ctx, domain)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return Decision{}, fmt.Errorf("delivery: check %s: %w", domain, ctxErr)
	}
	if err != nil {
		refuse(&d, "MX", mxProblem(domain, err))
		return c.finish(ctx, d), nil
	}
	d.Steps = append(d.Steps, mxStep(domain, hosts, secure))
	if !secure {
		d.Steps = append(d.Steps, Step{Name: "DANE", OK: true, Detail: "the MX records of " + domain + " are not DNSSEC-signed, so DANE does not apply"})
	}

	var first *hostResult
	for _, h := range hosts[:min(len(hosts), maxMXHosts)] {
		res := c.checkHost(ctx, h.Host, secure, sts)
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Decision{}, fmt.Errorf("delivery: check %s: %w", domain, ctxErr)
		}
		d.Steps = append(d.Steps, res.steps...)
		if res.ok {
			d.Method, d.MX, d.DANE = MethodTLS, h.Host, res.dane
			d.TLSVersion, d.Cipher = res.version, res.cipher
			d.Reason = successReason(res, sts)
			return c.finish(ctx, d), nil
		}
		if first == nil {
			first = &res
		}
	}
	d.Reason, d.Advice = first.problem.reason, first.problem.advice
	return c.finish(ctx, d), nil
}

// problem is a reason in plain words and what the recipient could change.
type problem struct{ reason, advice string }

func refuse(d *Decision, step string, p problem) {
	d.Steps = append(d.Steps, Step{Name: step, OK: false, Detail: p.reason})
	d.Reason, d.Advice = p.reason, p.advice
}

func (c *Checker) finish(ctx context.Context, d Decision) Decision {
	ttl := c.s.FailureTTL
	if d.Method == MethodTLS {
		ttl = c.s.SuccessTTL
	}
	d.ExpiresAt = d.CheckedAt.Add(ttl)
	c.log.InfoContext(ctx, "delivery: domain checked", "domain", d.Domain, "method", string(d.Method),
		"reason", d.Reason, "mx", d.MX, "mta_sts_mode", d.MTASTSMode, "dane", d.DANE)
	return d
}

func successReason(res hostResult, sts *MTASTSPolicy) string {
	how := "certificate verified"
	switch {
	case res.dane:
		how = "certificate verified by DANE"
	case sts != nil && sts.Mode == MTASTSEnforce:
		how = "certificate verified (MTA-STS enforce)"
	}
	return fmt.Sprintf("%s to %s, %s", res.version, res.host, how)
}

func mxProblem(domain string, err error) problem {
	switch {
	case errors.Is(err, errNullMX):
		return problem{domain + " accepts no mail (null MX, RFC 7505)", "Publish MX records for " + domain + " if it should receive mail."}
	case errors.Is(err, errNoSuchDomain):
		return problem{domain + " does not exist in DNS", "Check the spelling of the address."}
	}
	return problem{"could not look up the MX records of " + domain + ": " + err.Error(), "Make sure the DNS servers of " + domain + " answer MX queries."}
}

func mxStep(domain string, hosts []mxHost, secure bool) Step {
	var names []string
	for _, h := range hosts {
		names = append(names, fmt.Sprintf("%s (%d)", h.Host, h.Preference))
	}
	detail := "mail for " + domain + " goes to " + strings.Join(names, ", ")
	if len(hosts) == 1 && hosts[0].Host == domain {
		detail = domain + " has no MX records; its own address receives mail (RFC 5321 §5.1)"
	}
	if secure {
		detail += "; DNSSEC-signed"
	}
	return Step{Name: "MX", OK: true, Detail: detail}
}

// describeLeaf is what the certificate step shows when it passed.
func describeLeaf(certs []*x509.Certificate, dane bool) string {
	if len(certs) == 0 {
		return ""
	}
	leaf := certs[0]
	if dane {
		return "matches the domain's DANE TLSA record"
	}
	return fmt.Sprintf("valid for %s, issued by %s, expires %s", certNames(leaf), leaf.Issuer.CommonName, leaf.NotAfter.UTC().Format("2006-01-02"))
}
