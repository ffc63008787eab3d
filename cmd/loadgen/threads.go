package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// people are the database ids of the seeded users and teams, by index.
type people struct {
	providers, staff, teams []int64
}

// threadPlan builds batches of threads with their messages, read receipts
// and attachments, all sealed. Batch k is the same whatever goroutine
// builds it (its random source is seeded with k), so content does not
// depend on scheduling.
type threadPlan struct {
	pop    population
	people people
	seal   sealer
	now    time.Time
	size   int // threads per batch
}

func (p threadPlan) batches() int { return (p.pop.Threads + p.size - 1) / p.size }

// build seals batch k: threads [k*size, (k+1)*size) and their share of the
// messages (at least one each, the rest spread at random among them).
func (p threadPlan) build(k int) (*batch, error) {
	rng := rand.New(rand.NewPCG(p.pop.Seed, uint64(k)))
	lo, hi := k*p.size, min((k+1)*p.size, p.pop.Threads)
	share := func(t int) int { return int(int64(p.pop.Messages) * int64(t) / int64(p.pop.Threads)) }
	counts := make([]int, hi-lo)
	for i := range counts {
		counts[i] = 1
	}
	for range share(hi) - share(lo) - (hi - lo) {
		counts[rng.IntN(len(counts))]++
	}
	b := &batch{}
	for i, n := range counts {
		if err := p.thread(b, rng, lo+i, n); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// thread seals thread t with n messages between its provider and its
// representative (one of a team's), alternating, newest last.
func (p threadPlan) thread(b *batch, rng *rand.Rand, t, n int) error {
	id := newUUID()
	s := t % len(p.people.staff)
	provider, staff, team := p.people.providers[t%len(p.people.providers)], p.people.staff[s], p.people.teams[s%len(p.people.teams)]
	owner, bind := postgres.SubjectSeal(id)
	subjectKey, subjectCT, err := p.seal.record(b, owner, bind, []byte(subject(rng)))
	if err != nil {
		return err
	}
	// Activity spread over three years; messages minutes to days apart.
	times := make([]time.Time, n)
	times[n-1] = p.now.Add(-time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour))))
	for i := n - 2; i >= 0; i-- {
		times[i] = times[i+1].Add(-time.Duration(5*time.Minute + time.Duration(rng.Int64N(int64(72*time.Hour)))))
	}
	fromProvider := rng.IntN(5) == 0 // most threads start with the plan writing
	var last int64                   // who wrote the newest message
	for i := range n {
		sender, recipient := staff, provider
		if fromProvider == (i%2 == 0) {
			sender, recipient = provider, staff
		}
		// Everything but the newest message was opened; the newest, half the time.
		read := i < n-1 || rng.IntN(2) == 0
		if err := p.message(b, rng, id, sender, recipient, times[i], read); err != nil {
			return err
		}
		last = sender
	}
	b.add(threads, id, provider, staff, team, subjectKey, subjectCT, times[0], times[n-1], last)
	return nil
}

func (p threadPlan) message(b *batch, rng *rand.Rand, threadID string, sender, recipient int64, at time.Time, read bool) error {
	id := newUUID()
	owner, bind := postgres.BodySeal(threadID, id)
	key, ct, err := p.seal.record(b, owner, bind, []byte(body(rng)))
	if err != nil {
		return err
	}
	b.add(messages, id, threadID, sender, key, ct, at)
	if read {
		readAt := at.Add(time.Hour)
		if readAt.After(p.now) {
			readAt = p.now
		}
		b.add(messageReads, id, recipient, readAt)
	}
	if rng.Float64() < p.pop.Attachments {
		return p.attachment(b, rng, threadID, id, at)
	}
	return nil
}

// attachment seals one file of 4-100 KiB, as insertAttachments does.
func (p threadPlan) attachment(b *batch, rng *rand.Rand, threadID, messageID string, at time.Time) error {
	id := newUUID()
	name := fmt.Sprintf("%s-%d.pdf", pick(rng, fileNames), rng.IntN(100000))
	ctype, err := messaging.CheckFile(name)
	if err != nil {
		return err
	}
	nameOwner, nameBind := postgres.AttachmentNameSeal(threadID, id)
	nameKey, nameCT, err := p.seal.record(b, nameOwner, nameBind, []byte(name))
	if err != nil {
		return err
	}
	data := fileContent(rng, 4<<10+rng.IntN(96<<10))
	dataOwner, dataBind := postgres.AttachmentDataSeal(threadID, id)
	dataKey, err := p.seal.stream(b, dataOwner, dataBind, data)
	if err != nil {
		return err
	}
	b.add(attachments, id, messageID, nameKey, nameCT, dataKey, ctype, int64(len(data)), int32(0), at)
	return nil
}
