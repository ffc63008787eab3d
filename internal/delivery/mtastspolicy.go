package delivery

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MTA-STS modes (RFC 8461 §5).
const (
	MTASTSEnforce = "enforce" // deliver only over verified TLS to listed MX hosts
	MTASTSTesting = "testing" // report failures, deliver anyway
	MTASTSNone    = "none"    // the domain withdrew its policy
)

// maxMTASTSAge caps max_age at one year (RFC 8461 §3.2).
const maxMTASTSAge = 31557600 * time.Second

// MTASTSPolicy is a recipient domain's fetched MTA-STS policy, cached for
// MaxAge after FetchedAt.
type MTASTSPolicy struct {
	// ID is the "id=" of the _mta-sts TXT record the policy was fetched
	// for; a new id in DNS means a new policy to fetch (RFC 8461 §3.1).
	ID        string        `json:"id"`
	Mode      string        `json:"mode"`
	MX        []string      `json:"mx"`
	MaxAge    time.Duration `json:"max_age"`
	FetchedAt time.Time     `json:"fetched_at"`
}

// Expired reports whether the policy's max_age has passed.
func (p MTASTSPolicy) Expired(now time.Time) bool {
	return !now.Before(p.FetchedAt.Add(p.MaxAge))
}

// AllowsMX reports whether host matches one of the policy's mx patterns.
// A pattern "*.example.com" stands for exactly one more leftmost label:
// it matches "mx.example.com" but neither "example.com" nor
// "a.b.example.com" (RFC 8461 §4.1).
func (p MTASTSPolicy) AllowsMX(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, pat := range p.MX {
		if rest, ok := strings.CutPrefix(pat, "*."); ok {
			if _, parent, found := strings.Cut(host, "."); found && parent == rest {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

// parseMTASTSRecord reads a "v=STSv1; id=..." TXT record (RFC 8461 §3.1).
// ok is false when the text is not an MTA-STS record at all.
func parseMTASTSRecord(txt string) (id string, ok bool, err error) {
	fields := strings.Split(txt, ";")
	if strings.TrimSpace(fields[0]) != "v=STSv1" {
		return "", false, nil
	}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		if k == "id" {
			id = v
		}
	}
	if id == "" || len(id) > 32 || strings.IndexFunc(id, notAlnum) >= 0 {
		return "", true, fmt.Errorf("record %q has no valid id (1 to 32 letters and digits)", txt)
	}
	return id, true, nil
}

func notAlnum(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
}

// parseMTASTSPolicy reads a policy body (RFC 8461 §3.2): "key: value"
// lines; unknown keys are ignored so later extensions do not break us.
func parseMTASTSPolicy(body string) (MTASTSPolicy, error) {
	var p MTASTSPolicy
	var version string
	haveMaxAge := false
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, found := strings.Cut(line, ":")
		if !found {
			return p, fmt.Errorf("policy line %q is not \"key: value\"", line)
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "version":
			version = v
		case "mode":
			p.Mode = v
		case "max_age":
			secs, err := strconv.ParseUint(v, 10, 64)
			if err != nil || len(v) > 10 { // 1*10DIGIT
				return p, fmt.Errorf("policy max_age %q is not a number of seconds", v)
			}
			p.MaxAge = time.Duration(min(secs, uint64(maxMTASTSAge/time.Second))) * time.Second
			haveMaxAge = true
		case "mx":
			p.MX = append(p.MX, strings.ToLower(strings.TrimSuffix(v, ".")))
		}
	}
	switch {
	case version != "STSv1":
		return p, errors.New("policy version is not STSv1")
	case p.Mode != MTASTSEnforce && p.Mode != MTASTSTesting && p.Mode != MTASTSNone:
		return p, fmt.Errorf("policy mode %q is not enforce, testing or none", p.Mode)
	case !haveMaxAge:
		return p, errors.New("policy has no max_age")
	case len(p.MX) == 0 && p.Mode != MTASTSNone:
		return p, errors.New("policy lists no mx")
	}
	return p, nil
}
