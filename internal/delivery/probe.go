package delivery

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// maxAddrsPerHost bounds the addresses tried per MX host.
const maxAddrsPerHost = 2

// hostResult is the outcome of checking one MX host.
type hostResult struct {
	host    string
	ok      bool
	dane    bool
	version string
	cipher  string
	steps   []Step
	problem problem
}

// checkHost applies MTA-STS and DANE to one MX host and probes it: connect,
// EHLO, STARTTLS, handshake and certificate, then QUIT. No message
// transaction is ever started.
func (c *Checker) checkHost(ctx context.Context, host string, mxSecure bool, sts *MTASTSPolicy) hostResult {
	res := hostResult{host: host}
	tlsa, err := c.daneRecords(ctx, host, mxSecure)
	if err != nil {
		return res.fail("DANE", problem{host + ": " + err.Error(), "Make sure the TLSA records of " + host + " resolve with valid DNSSEC signatures."})
	}
	switch {
	case len(tlsa) > 0:
		res.dane = true
		res.steps = append(res.steps, Step{Name: "DANE", OK: true, Detail: fmt.Sprintf("%s publishes %d DNSSEC-signed TLSA record(s)", host, len(tlsa))})
	case mxSecure:
		res.steps = append(res.steps, Step{Name: "DANE", OK: true, Detail: host + " publishes no usable signed TLSA records; the CA roots decide"})
	}
	// Where DANE applies it decides; MTA-STS only speaks for hosts without
	// it (RFC 8461 §2).
	if sts != nil && !res.dane && !sts.AllowsMX(host) {
		p := problem{
			fmt.Sprintf("%s is not listed in the MTA-STS policy of its domain (mx: %s)", host, strings.Join(sts.MX, ", ")),
			"Add " + host + " to the mx: lines of the MTA-STS policy, or point the MX records at a listed host.",
		}
		switch sts.Mode {
		case MTASTSEnforce:
			return res.fail("MTA-STS", p)
		case MTASTSTesting:
			// Testing mode reports but does not refuse (RFC 8461 §5).
			c.log.WarnContext(ctx, "delivery: mta-sts testing policy would refuse mx", "mx", host)
			res.steps = append(res.steps, Step{Name: "MTA-STS", OK: false, Detail: p.reason + "; testing mode, so only noted"})
		}
	}

	addrs, err := c.dns.addrs(ctx, host)
	if err != nil {
		return res.fail("address", problem{"could not find the address of " + host + ": " + err.Error(), "Publish A or AAAA records for " + host + "."})
	}
	var sc *secureConn
	var addr netip.Addr
	for _, addr = range addrs[:min(len(addrs), maxAddrsPerHost)] {
		sc, err = openSecure(ctx, c.s, host, addr, c.verify.config(host, tlsa))
		var se *smtpError
		if err == nil || !errors.As(err, &se) || se.stage != stageConnect {
			break
		}
	}
	if err != nil {
		return res.failSMTP(host, addr, err)
	}
	defer func() { _ = sc.client.Close() }()
	_ = sc.client.Quit()
	res.ok = true
	res.version, res.cipher = tls.VersionName(sc.state.Version), tls.CipherSuiteName(sc.state.CipherSuite)
	res.steps = append(res.steps, passedSteps(host, addr, stageDone)...)
	res.steps = append(res.steps,
		Step{Name: "TLS version", OK: true, Detail: host + ": " + res.version + ", " + res.cipher},
		Step{Name: "certificate", OK: true, Detail: host + ": " + describeLeaf(sc.state.PeerCertificates, res.dane)})
	return res
}

func (r hostResult) fail(step string, p problem) hostResult {
	r.steps = append(r.steps, Step{Name: step, OK: false, Detail: p.reason})
	r.problem = p
	return r
}

// failSMTP records the steps that passed before the failing one.
func (r hostResult) failSMTP(host string, addr netip.Addr, err error) hostResult {
	var se *smtpError
	if !errors.As(err, &se) {
		se = &smtpError{reason: host + ": " + err.Error(), stage: stageConnect}
	}
	r.steps = append(r.steps, passedSteps(host, addr, se.stage)...)
	advice := se.advice
	if advice == "" {
		advice = adviceFor(se.stage, host)
	}
	return r.fail(stageNames[se.stage], problem{se.reason, advice})
}

// passedSteps lists the SMTP stages before stage as passed.
func passedSteps(host string, addr netip.Addr, stage smtpStage) []Step {
	details := map[smtpStage]string{
		stageConnect:  fmt.Sprintf("%s: connected to %s", host, addr),
		stageSMTP:     host + ": greeting and EHLO accepted",
		stageSTARTTLS: host + ": offers STARTTLS",
	}
	var out []Step
	for s := stageConnect; s < stage && s < stageTLS; s++ {
		out = append(out, Step{Name: stageNames[s], OK: true, Detail: details[s]})
	}
	return out
}

func adviceFor(stage smtpStage, host string) string {
	switch stage {
	case stageConnect:
		return "Make sure " + host + " accepts SMTP connections from the Internet."
	case stageSMTP:
		return "Make sure " + host + " accepts mail from other servers."
	case stageSTARTTLS:
		return "Enable STARTTLS on " + host + " (RFC 3207) with a certificate from a public certificate authority."
	case stageTLS:
		return "Enable TLS 1.2 or 1.3 on " + host + " (RFC 8996 retired older versions)."
	case stageAfterTLS:
		return "Make sure " + host + " keeps answering SMTP after STARTTLS."
	}
	return "Install on " + host + " a certificate from a public certificate authority that names " + host + " and renew it before it expires (ACME automates both)."
}
