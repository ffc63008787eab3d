package delivery

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Method is how a message reaches a recipient.
type Method string

const (
	// MethodTLS: the whole message goes to the recipient's MX over
	// verified TLS.
	MethodTLS Method = "tls"
	// MethodPortal: the message waits in the portal; the recipient gets a
	// notification without PHI (DESIGN.md §6).
	MethodPortal Method = "portal"
)

// Policy is an admin's choice for a recipient domain (/admin/domains).
type Policy string

const (
	// PolicyPortal always uses the portal (consumer mail domains).
	PolicyPortal Policy = "portal"
	// PolicyTLSRequired uses TLS or holds the message in the portal
	// without even a plain-mail notification.
	PolicyTLSRequired Policy = "tls-required"
	// PolicyTLSPreferred uses TLS when the checks pass, else the portal
	// with a notification. The default for domains without a policy.
	PolicyTLSPreferred Policy = "tls-preferred"
)

// policyWords says what each policy does, for the check page.
var policyWords = map[Policy]string{
	PolicyPortal:       "portal: always the portal, without checking the domain",
	PolicyTLSPreferred: "tls-preferred: verified TLS when the checks pass, else the portal with a notification",
	PolicyTLSRequired:  "tls-required: verified TLS when the checks pass, else the portal without a plain-mail notification",
}

// ParsePolicy accepts the three policy names; "" (no policy set) is
// tls-preferred.
func ParsePolicy(s string) (Policy, error) {
	p := Policy(strings.TrimSpace(s))
	if p == "" {
		return PolicyTLSPreferred, nil
	}
	if _, known := policyWords[p]; !known {
		return "", fmt.Errorf("delivery: unknown domain policy %q", s)
	}
	return p, nil
}

// ErrFallback marks a permanent delivery failure after which the message
// must go to the portal: the MX stopped offering STARTTLS, its certificate
// failed verification, or it answered 5xx. Test with errors.Is.
var ErrFallback = errors.New("permanent failure, the portal must take the message")

// Decision is how mail for one recipient domain is delivered and why. It is
// cached per domain, recorded per message and shown on the public
// /tls-check page, so every field is plain data without PHI.
type Decision struct {
	Domain string `json:"domain"`
	Method Method `json:"method"`
	// Reason says in plain words why: "mx.clinic.example offered no
	// STARTTLS", "verified TLS 1.3 to mx.clinic.example".
	Reason string `json:"reason"`
	// Advice tells the provider's IT what to change, empty when nothing.
	Advice string `json:"advice,omitempty"`
	// Policy is the admin policy that applied.
	Policy Policy `json:"policy"`
	// NotifyAllowed is false when the message must stay in the portal
	// without a plain-mail notification (tls-required and TLS failed).
	NotifyAllowed bool `json:"notify_allowed"`
	// MTASTSMode is the recipient's MTA-STS mode ("enforce", "testing",
	// "none") or "" when it publishes none.
	MTASTSMode string `json:"mta_sts_mode,omitempty"`
	// DANE is true when the MX's certificate was verified against DNSSEC-
	// signed TLSA records (RFC 7672) instead of the CA roots.
	DANE       bool   `json:"dane"`
	MX         string `json:"mx,omitempty"`
	TLSVersion string `json:"tls_version,omitempty"`
	Cipher     string `json:"cipher,omitempty"`
	// Steps are the individual checks in the order they ran.
	Steps     []Step    `json:"steps"`
	CheckedAt time.Time `json:"checked_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Step is one check and its outcome, for the /tls-check page.
type Step struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// withPolicy applies the admin policy to a check's outcome. The cached
// outcome is policy-free, so a policy change takes effect at once.
func (d Decision) withPolicy(p Policy) Decision {
	d.Policy = p
	d.NotifyAllowed = !(p == PolicyTLSRequired && d.Method != MethodTLS)
	d.Steps = append([]Step{{Name: "admin policy", OK: true, Detail: policyWords[p]}}, d.Steps...)
	return d
}

// policyDecision is the answer for a domain an admin put on the portal: no
// probe at all, so nothing is learnt about (or sent to) its servers.
func policyDecision(domain string, now time.Time) Decision {
	reason := "an administrator set " + domain + " to always use the portal"
	return Decision{
		Domain: domain, Method: MethodPortal, Reason: reason, Policy: PolicyPortal,
		NotifyAllowed: true, CheckedAt: now, ExpiresAt: now,
		Steps: []Step{{Name: "admin policy", OK: true, Detail: reason}},
	}
}
