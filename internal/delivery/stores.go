package delivery

import (
	"context"
	"sync"
)

// The stores delivery needs, defined here by their consumer; PostgreSQL
// implements them in internal/postgres. Domains are passed lower case,
// without a trailing dot. The memory implementations below serve tests.

// DomainPolicies holds the admins' per-domain policies.
type DomainPolicies interface {
	// DomainPolicy returns the domain's policy, or "" when it has none.
	DomainPolicy(ctx context.Context, domain string) (Policy, error)
}

// DecisionCache keeps the latest check outcome per domain.
type DecisionCache interface {
	// CachedDecision returns the stored decision, expired or not.
	CachedDecision(ctx context.Context, domain string) (Decision, bool, error)
	StoreDecision(ctx context.Context, d Decision) error
}

// MTASTSCache keeps fetched MTA-STS policies for their max_age, which is
// what makes MTA-STS resist an attacker who later blocks the policy fetch
// (RFC 8461 §10.2).
type MTASTSCache interface {
	// CachedMTASTS returns the stored policy, expired or not.
	CachedMTASTS(ctx context.Context, domain string) (MTASTSPolicy, bool, error)
	StoreMTASTS(ctx context.Context, domain string, p MTASTSPolicy) error
}

// MemoryStore implements DomainPolicies, DecisionCache and MTASTSCache in
// memory, for tests. The zero value is ready to use.
type MemoryStore struct {
	mu        sync.Mutex
	policies  map[string]Policy
	decisions map[string]Decision
	mtasts    map[string]MTASTSPolicy
}

// SetPolicy sets (or, with "", clears) a domain's admin policy.
func (m *MemoryStore) SetPolicy(domain string, p Policy) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.policies == nil {
		m.policies = map[string]Policy{}
	}
	m.policies[domain] = p
}

func (m *MemoryStore) DomainPolicy(_ context.Context, domain string) (Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.policies[domain], nil
}

func (m *MemoryStore) CachedDecision(_ context.Context, domain string) (Decision, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.decisions[domain]
	return d, ok, nil
}

func (m *MemoryStore) StoreDecision(_ context.Context, d Decision) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.decisions == nil {
		m.decisions = map[string]Decision{}
	}
	m.decisions[d.Domain] = d
	return nil
}

func (m *MemoryStore) CachedMTASTS(_ context.Context, domain string) (MTASTSPolicy, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.mtasts[domain]
	return p, ok, nil
}

func (m *MemoryStore) StoreMTASTS(_ context.Context, domain string, p MTASTSPolicy) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mtasts == nil {
		m.mtasts = map[string]MTASTSPolicy{}
	}
	m.mtasts[domain] = p
	return nil
}
