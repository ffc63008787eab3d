package delivery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"
)

// maxPolicyBytes bounds a policy body (RFC 8461 §3.3 suggests 64 KiB).
const maxPolicyBytes = 64 << 10

// policyClient fetches MTA-STS policies over HTTPS verified against roots,
// dialling only addresses our resolver gave.
func policyClient(s Settings, r *resolver, roots *x509.CertPool) *http.Client {
	transport := &http.Transport{
		// No proxy from the environment: the policy must come from the
		// domain's own host, found through our resolver.
		Proxy: nil,
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return dialResolved(ctx, r, addr, s.ConnectTimeout)
		},
		// The standard PKIX check against our roots and the name
		// mta-sts.<domain> is exactly what RFC 8461 §3.3 asks for.
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, Time: s.Now},
		TLSHandshakeTimeout: s.CommandTimeout,
		DisableKeepAlives:   true,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   s.MTASTSTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("the policy host redirected, which RFC 8461 §3.3 forbids following")
		},
	}
}

// fetch gets https://mta-sts.<domain>/.well-known/mta-sts.txt.
func (m *mtastsSource) fetch(ctx context.Context, domain string) (MTASTSPolicy, error) {
	host := "mta-sts." + domain
	if m.port != 443 {
		host = net.JoinHostPort(host, strconv.Itoa(m.port))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/.well-known/mta-sts.txt", nil)
	if err != nil {
		return MTASTSPolicy{}, err
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return MTASTSPolicy{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return MTASTSPolicy{}, fmt.Errorf("policy host answered %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPolicyBytes+1))
	if err != nil {
		return MTASTSPolicy{}, fmt.Errorf("read policy: %w", err)
	}
	if len(body) > maxPolicyBytes {
		return MTASTSPolicy{}, errors.New("policy is larger than 64 KiB")
	}
	return parseMTASTSPolicy(string(body))
}

// dialResolved connects to host:port, resolving host through our resolver
// only, trying each address in turn.
func dialResolved(ctx context.Context, r *resolver, hostport string, timeout time.Duration) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	addrs, err := r.addrs(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout}
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}
