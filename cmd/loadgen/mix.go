package main

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// defaultMix is a working day: mostly reading, some staff triage, a few
// replies with a file and sign-ins.
const defaultMix = "signin=5,inbox=40,thread=30,reply=5,staff=20"

// mix is the weighted choice of scenario a virtual user makes each time.
type mix []weighted

type weighted struct {
	scenario
	weight int
}

// parseMix reads "name=weight,..."; a bare name has weight 1.
func parseMix(spec string) (mix, error) {
	var m mix
	for part := range strings.SplitSeq(spec, ",") {
		name, w, hasWeight := strings.Cut(strings.TrimSpace(part), "=")
		s, ok := scenarioNamed(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown scenario %q (known: signin, inbox, thread, reply, staff)", errUsage, name)
		}
		weight := 1
		if hasWeight {
			n, err := strconv.Atoi(w)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%w: weight of %s: %q is not a count", errUsage, name, w)
			}
			weight = n
		}
		if weight > 0 {
			m = append(m, weighted{s, weight})
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("%w: the mix has no scenario with a weight", errUsage)
	}
	return m, nil
}

func (m mix) pick(rng *rand.Rand) scenario {
	total := 0
	for _, w := range m {
		total += w.weight
	}
	n := rng.IntN(total)
	for _, w := range m {
		if n < w.weight {
			return w.scenario
		}
		n -= w.weight
	}
	panic("unreachable")
}

func (m mix) needs(r role) bool {
	for _, w := range m {
		if w.role == r {
			return true
		}
	}
	return false
}

func (m mix) has(name string) bool {
	for _, w := range m {
		if w.name == name {
			return true
		}
	}
	return false
}
