package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

var errNoMTASTS = errors.New("publishes no MTA-STS record")

// mtastsSource finds the MTA-STS policy that applies to a domain, through
// the configured resolver and a cache.
type mtastsSource struct {
	dns    *resolver
	cache  MTASTSCache
	client *http.Client
	port   int
	now    func() time.Time
	log    *slog.Logger
}

// policy returns the policy to apply to domain (nil when none) and a step
// saying how it was found. It follows RFC 8461 §5.1: a fresh policy when
// the TXT id changed, else the cached one; a cached, unexpired policy
// survives a failed DNS lookup or fetch, since blocking those is exactly
// what an attacker stripping TLS would do (§10.2).
func (m *mtastsSource) policy(ctx context.Context, domain string) (*MTASTSPolicy, Step) {
	step := Step{Name: "MTA-STS", OK: true}
	now := m.now()
	cached, haveCached, err := m.cache.CachedMTASTS(ctx, domain)
	if err != nil {
		m.log.WarnContext(ctx, "delivery: read cached mta-sts policy", "domain", domain, "err", err)
	}
	haveCached = haveCached && err == nil && !cached.Expired(now)

	id, err := m.lookupID(ctx, domain)
	switch {
	case err != nil && haveCached:
		step.Detail = fmt.Sprintf("%s; applying the cached policy (mode %s) until %s", lookupProblem(domain, err), cached.Mode, dateTime(cached.FetchedAt.Add(cached.MaxAge)))
		return &cached, step
	case errors.Is(err, errNoMTASTS):
		step.Detail = lookupProblem(domain, err)
		return nil, step
	case err != nil:
		step.OK = false
		step.Detail = lookupProblem(domain, err) + "; continuing without MTA-STS"
		return nil, step
	case haveCached && cached.ID == id:
		step.Detail = fmt.Sprintf("policy %s (mode %s, cached until %s)", id, cached.Mode, dateTime(cached.FetchedAt.Add(cached.MaxAge)))
		return &cached, step
	}

	fetched, err := m.fetch(ctx, domain)
	if err != nil {
		m.log.WarnContext(ctx, "delivery: mta-sts policy fetch failed", "domain", domain, "cached", haveCached, "err", err)
		if haveCached {
			step.Detail = fmt.Sprintf("fetching policy %s failed (%s); applying the cached policy (mode %s)", id, err, cached.Mode)
			return &cached, step
		}
		step.OK = false
		step.Detail = fmt.Sprintf("the _mta-sts record announces policy %s but fetching it failed: %s; continuing without MTA-STS (RFC 8461 §5.1)", id, err)
		return nil, step
	}
	fetched.ID, fetched.FetchedAt = id, now
	if err := m.cache.StoreMTASTS(ctx, domain, fetched); err != nil {
		m.log.WarnContext(ctx, "delivery: store mta-sts policy", "domain", domain, "err", err)
	}
	step.Detail = fmt.Sprintf("policy %s fetched (mode %s, max_age %s)", id, fetched.Mode, fetched.MaxAge)
	return &fetched, step
}

func lookupProblem(domain string, err error) string {
	if errors.Is(err, errNoMTASTS) {
		return domain + " publishes no MTA-STS record"
	}
	return "could not read the MTA-STS record (" + err.Error() + ")"
}

// lookupID returns the id of the domain's single valid _mta-sts record.
// Several v=STSv1 records count as none (RFC 8461 §3.1).
func (m *mtastsSource) lookupID(ctx context.Context, domain string) (string, error) {
	txts, err := m.dns.txt(ctx, "_mta-sts."+domain)
	if errors.Is(err, errNoSuchDomain) {
		return "", errNoMTASTS
	}
	if err != nil {
		return "", err
	}
	var ids []string
	for _, txt := range txts {
		id, isSTS, err := parseMTASTSRecord(txt)
		if err != nil {
			return "", err
		}
		if isSTS {
			ids = append(ids, id)
		}
	}
	switch len(ids) {
	case 0:
		return "", errNoMTASTS
	case 1:
		return ids[0], nil
	}
	return "", fmt.Errorf("publishes %d MTA-STS records where one is allowed", len(ids))
}

func dateTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") }
