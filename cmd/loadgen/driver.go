package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// driver runs conc virtual users against the portal at base for dur, each
// choosing its next request from mix.
type driver struct {
	base             string
	conc             int
	dur              time.Duration
	mix              mix
	providers, staff int // how many of each were seeded
}

// vuser is one virtual user: a provider's and a staff member's browser
// (each signed in once, before the clock starts, when the mix needs it),
// and what it measured.
type vuser struct {
	base      string
	transport *http.Transport
	rng       *rand.Rand
	providers int
	provider  *session
	staff     *session
	measured  map[string]*series
}

// signInAll makes the virtual users and signs each in, in parallel.
func (d driver) signInAll(ctx context.Context) ([]*vuser, error) {
	transport := &http.Transport{MaxIdleConns: 4 * d.conc, MaxIdleConnsPerHost: 4 * d.conc, DisableCompression: true}
	users := make([]*vuser, d.conc)
	errs := make([]error, d.conc)
	var wg sync.WaitGroup
	for i := range users {
		users[i] = &vuser{base: d.base, transport: transport, rng: rand.New(rand.NewPCG(uint64(i), 7)),
			providers: d.providers, measured: map[string]*series{}}
		wg.Go(func() { errs[i] = d.signIn(ctx, users[i], i) })
	}
	wg.Wait()
	return users, errors.Join(errs...)
}

// measure runs the signed-in users for d.dur and returns what each
// endpoint measured. Requests cut by the end of the run are not counted.
func (d driver) measure(ctx context.Context, users []*vuser) (map[string]*series, time.Duration, error) {
	runCtx, cancel := context.WithTimeout(ctx, d.dur)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for runCtx.Err() == nil {
				s := d.mix.pick(u.rng)
				t := time.Now()
				o, err := s.do(runCtx, u)
				if runCtx.Err() != nil {
					return
				}
				u.record(s.name, time.Since(t), o, err)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	all := map[string]*series{}
	for _, u := range users {
		for name, s := range u.measured {
			all[name] = all[name].merge(s)
		}
	}
	return all, took, ctx.Err()
}

// signIn opens the sessions virtual user i needs: provider i (spread over
// the population; one with threads) and staff member i.
func (d driver) signIn(ctx context.Context, u *vuser, i int) error {
	if d.mix.needs(provider) {
		var err error
		for try := range 5 {
			u.provider = newSession(d.base, u.transport)
			if err = u.provider.signInProvider(ctx, providerEmail((i*7919+try)%d.providers)); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
	}
	if d.mix.needs(staff) {
		u.staff = newSession(d.base, u.transport)
		return u.staff.mustSignIn(ctx, staffEmail(i%d.staff))
	}
	return nil
}

func (u *vuser) record(name string, d time.Duration, o outcome, err error) {
	s := u.measured[name]
	if s == nil {
		s = &series{}
		u.measured[name] = s
	}
	switch {
	case err != nil:
		s.fail(fmt.Sprintf("%s: %v", name, err))
	case o.failed():
		s.fail(o.snippet)
	}
	s.latencies = append(s.latencies, d)
}
