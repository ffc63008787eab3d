package main

import (
	"flag"
	"fmt"
)

// Password signs in every seeded user. It is hashed once (argon2id at the
// portal's parameters) and the one PHC string stored for all: hashing
// 20,000 passwords would take longer than sealing a million messages.
const Password = "loadgen seeded password, not for production"

// The seeded users live under their own domains, so they can be counted and
// never collide with real or demo accounts.
const (
	providerDomain = "load.clinic.example"
	staffDomain    = "load.healthnet.example"
)

func providerEmail(i int) string { return fmt.Sprintf("provider%05d@%s", i+1, providerDomain) }
func staffEmail(i int) string    { return fmt.Sprintf("rep%04d@%s", i+1, staffDomain) }

// population is the shape of what seed writes.
type population struct {
	Providers   int
	Staff       int
	Teams       int // staff i is in team i % Teams
	Threads     int
	Messages    int     // at least one per thread
	Attachments float64 // share of messages with one attachment
	Seed        uint64  // same seed, same content
}

func (p *population) flags(fs *flag.FlagSet) {
	fs.IntVar(&p.Providers, "providers", 20000, "providers (default: threads/10 when -messages is given alone)")
	fs.IntVar(&p.Staff, "staff", 300, "staff (representatives)")
	fs.IntVar(&p.Teams, "teams", 10, "teams the staff are spread over")
	fs.IntVar(&p.Threads, "threads", 200000, "threads (default: messages/5 when -messages is given alone)")
	fs.IntVar(&p.Messages, "messages", 1000000, "messages")
	fs.Float64Var(&p.Attachments, "attachments", 0.05, "share of messages with an attachment (4-100 KiB)")
	fs.Uint64Var(&p.Seed, "seed", 1, "seed of the generated content")
}

// scaled keeps the default proportions (five messages per thread, ten
// threads per provider) for what -messages alone did not set.
func (p *population) scaled(set map[string]bool) {
	if set["messages"] && !set["threads"] {
		p.Threads = max(1, p.Messages/5)
	}
	if set["messages"] && !set["providers"] {
		p.Providers = max(1, p.Threads/10)
	}
}

func (p population) validate() error {
	switch {
	case p.Providers < 1 || p.Staff < 1 || p.Teams < 1 || p.Threads < 1:
		return fmt.Errorf("%w: providers, staff, teams and threads must be at least 1", errUsage)
	case p.Teams > p.Staff:
		return fmt.Errorf("%w: more teams (%d) than staff (%d)", errUsage, p.Teams, p.Staff)
	case p.Messages < p.Threads:
		return fmt.Errorf("%w: every thread needs a message: -messages %d < -threads %d", errUsage, p.Messages, p.Threads)
	case p.Attachments < 0 || p.Attachments > 1:
		return fmt.Errorf("%w: -attachments is a share between 0 and 1", errUsage)
	}
	return nil
}
