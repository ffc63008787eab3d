package main

import (
	"context"
	"io"
	"testing"

	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
)

// make run's demo world, seeded twice as two runs do: the accounts, Dr.
// Lopez's message, and the practice whose shared address's message is in
// Dr. Lopez's inbox too; the second run adds nothing.
func TestDemoSeedMakesThePracticeOnce(t *testing.T) {
	getenv, path := keysEnv(t, pgtest.New(t))
	initKeyring(t, getenv, path)
	ctx := context.Background()
	a, err := openApp(ctx, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Pool.Close()
	for range 2 {
		if err := seedDemo(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	lopez, err := a.Accounts.UserByEmail(ctx, "dr.lopez@clinic.example")
	if err != nil {
		t.Fatal(err)
	}
	p, role, err := a.Practices.Membership(ctx, lopez)
	if err != nil || p.Name != "Lopez Family Medicine" || p.MailboxEmail != "frontdesk@clinic.example" || role != "member" {
		t.Errorf("Dr. Lopez's practice: %+v as %q, %v; want a member of Lopez Family Medicine at frontdesk@clinic.example", p, role, err)
	}
	threads, _, err := a.Messages.Inbox(ctx, messaging.Viewer{UserID: lopez.ID}, messaging.Page{})
	if err != nil || len(threads) != 2 {
		t.Errorf("Dr. Lopez's inbox: %d threads, %v; want 2 (hers and the practice's)", len(threads), err)
	}
	var practices, all int
	a.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM practices), (SELECT count(*) FROM threads)`).Scan(&practices, &all)
	if practices != 1 || all != 2 {
		t.Errorf("after two seedings: %d practices, %d threads; want 1 and 2", practices, all)
	}
}
