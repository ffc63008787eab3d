package delivery

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
)

// Router decides per recipient domain: admin policy first, then a cached
// or fresh Checker outcome (DESIGN.md §7).
type Router struct {
	checker   *Checker
	policies  DomainPolicies
	decisions DecisionCache
	log       *slog.Logger

	mu       sync.Mutex
	inflight map[string]*pendingCheck
}

type pendingCheck struct {
	done chan struct{}
	d    Decision
	err  error
}

// NewRouter returns a router over checker with the given stores.
func NewRouter(checker *Checker, policies DomainPolicies, decisions DecisionCache, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Router{checker: checker, policies: policies, decisions: decisions, log: log, inflight: map[string]*pendingCheck{}}
}

// Decide returns how to deliver to domain. A domain an admin set to
// portal is never probed; otherwise an unexpired cached outcome is reused
// and an expired one re-checked. The error is for an invalid domain, an
// unreadable policy store or a cancelled ctx: the caller retries.
func (r *Router) Decide(ctx context.Context, domain string) (Decision, error) {
	return r.decide(ctx, domain, false)
}

// Recheck is Decide without the cache ("check again" on the domains page).
func (r *Router) Recheck(ctx context.Context, domain string) (Decision, error) {
	return r.decide(ctx, domain, true)
}

func (r *Router) decide(ctx context.Context, domain string, fresh bool) (Decision, error) {
	domain, err := NormalizeDomain(domain)
	if err != nil {
		return Decision{}, err
	}
	policy, err := r.policies.DomainPolicy(ctx, domain)
	if err != nil {
		return Decision{}, fmt.Errorf("delivery: policy of %s: %w", domain, err)
	}
	if policy, err = ParsePolicy(string(policy)); err != nil {
		return Decision{}, err
	}
	if policy == PolicyPortal {
		return policyDecision(domain, r.checker.s.Now()), nil
	}
	if !fresh {
		d, ok, err := r.decisions.CachedDecision(ctx, domain)
		if err != nil {
			r.log.WarnContext(ctx, "delivery: read cached decision", "domain", domain, "err", err)
		}
		if ok && err == nil && r.checker.s.Now().Before(d.ExpiresAt) {
			return d.withPolicy(policy), nil
		}
	}
	d, err := r.check(ctx, domain)
	if err != nil {
		return Decision{}, err
	}
	return d.withPolicy(policy), nil
}

// check runs one Checker.Check per domain at a time: messages to the same
// domain sent together share one probe instead of each opening
// connections to the provider's MX.
func (r *Router) check(ctx context.Context, domain string) (Decision, error) {
	r.mu.Lock()
	if p, ok := r.inflight[domain]; ok {
		r.mu.Unlock()
		select {
		case <-p.done:
			return p.d, p.err
		case <-ctx.Done():
			return Decision{}, fmt.Errorf("delivery: check %s: %w", domain, ctx.Err())
		}
	}
	p := &pendingCheck{done: make(chan struct{})}
	r.inflight[domain] = p
	r.mu.Unlock()

	p.d, p.err = r.checker.Check(ctx, domain)
	if p.err == nil {
		if err := r.decisions.StoreDecision(ctx, p.d); err != nil {
			r.log.WarnContext(ctx, "delivery: store decision", "domain", domain, "err", err)
		}
	}
	r.mu.Lock()
	delete(r.inflight, domain)
	r.mu.Unlock()
	close(p.done)
	return p.d, p.err
}

// NormalizeDomain lower-cases domain, drops a trailing dot and checks it
// is a host name of at least two labels (letters, digits, hyphens;
// internationalised names in their xn-- form).
func NormalizeDomain(domain string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(domain)), ".")
	labels := strings.Split(d, ".")
	ok := len(d) <= 253 && len(labels) >= 2
	for _, l := range labels {
		ok = ok && len(l) >= 1 && len(l) <= 63 && l[0] != '-' && l[len(l)-1] != '-' &&
			strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") == ""
	}
	if !ok {
		return "", fmt.Errorf("delivery: %q is not a mail domain", domain)
	}
	return d, nil
}
