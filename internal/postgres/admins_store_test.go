package postgres_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

// adminChange is a change that takes an account out of the active admins.
type adminChange struct {
	name string
	do   func(f *storeFixture, userID int64) error
}

var adminChanges = []adminChange{
	{"demote to staff", changeRole(accounts.RoleStaff)},
	{"demote to provider", changeRole(accounts.RoleProvider)},
	{"disable", administer(accounts.ActionDisable)},
	{"force to re-register", administer(accounts.ActionForceReregister)},
}

func changeRole(r accounts.Role) func(*storeFixture, int64) error {
	return func(f *storeFixture, id int64) error {
		_, err := f.accounts.ChangeRole(f.ctx, id, r, audit.Event{Action: audit.RoleChanged, TargetType: "user"})
		return err
	}
}

func administer(a accounts.AdminAction) func(*storeFixture, int64) error {
	return func(f *storeFixture, id int64) error {
		_, err := f.accounts.Administer(f.ctx, id, a, audit.Event{Action: "admin.user_" + audit.Action(a), TargetType: "user"})
		return err
	}
}

// retireAdmins turns the admins of earlier cases into staff, behind the
// store's back, so that each case starts with no admin at all.
func (f *storeFixture) retireAdmins() {
	f.t.Helper()
	f.exec(`UPDATE users SET role = 'staff' WHERE role = 'admin'`)
}

// activeAdmins counts who can still administer the portal.
func (f *storeFixture) activeAdmins() int {
	f.t.Helper()
	return f.count(`SELECT count(*) FROM users WHERE role = 'admin' AND status = 'active'`)
}

// The last active admin cannot be demoted, disabled or forced to
// re-register; admins who are disabled, locked or pending do not count as
// another. A refused change leaves the account and the audit log as they
// were.
func TestLastActiveAdminCannotBeDemoted(t *testing.T) {
	db := newStoreFixture(t)
	others := []struct {
		name   string
		status accounts.Status // of a second admin; "" for none
		want   error
	}{
		{"only admin", "", accounts.ErrLastAdmin},
		{"other admin disabled", accounts.StatusDisabled, accounts.ErrLastAdmin},
		{"other admin locked", accounts.StatusLocked, accounts.ErrLastAdmin},
		{"other admin pending", accounts.StatusPending, accounts.ErrLastAdmin},
		{"other admin active", accounts.StatusActive, nil},
	}
	for _, o := range others {
		for _, c := range adminChanges {
			t.Run(o.name+"/"+c.name, func(t *testing.T) {
				f := db.on(t)
				f.retireAdmins()
				admin := f.user(accounts.RoleAdmin, accounts.StatusActive)
				if o.status != "" {
					f.user(accounts.RoleAdmin, o.status)
				}
				events := f.count(`SELECT count(*) FROM audit_events`)
				err := c.do(f, admin.ID)
				wantStoreErr(t, c.name, err, o.want)
				after, _ := f.accounts.UserByID(f.ctx, admin.ID)
				if o.want == nil {
					if after.Role == accounts.RoleAdmin && after.Status == accounts.StatusActive {
						t.Errorf("%s with another active admin changed nothing", c.name)
					}
					return
				}
				if after != admin {
					t.Errorf("refused %s changed the account:\n%+v\nwas\n%+v", c.name, after, admin)
				}
				if n := f.count(`SELECT count(*) FROM audit_events`); n != events {
					t.Errorf("refused %s wrote %d audit events", c.name, n-events)
				}
			})
		}
	}
}

// Changes that leave the last admin an active admin are not refused, and
// accounts that are not active admins are changed freely.
func TestLastAdminRuleTouchesOnlyTheLastActiveAdmin(t *testing.T) {
	f := newStoreFixture(t)
	admin := f.user(accounts.RoleAdmin, accounts.StatusActive)
	for _, c := range []adminChange{
		{"keep the admin role", changeRole(accounts.RoleAdmin)},
		{"end sessions", administer(accounts.ActionEndSessions)},
		{"reset link", administer(accounts.ActionResetLink)},
	} {
		wantStoreErr(t, "last admin: "+c.name, c.do(f, admin.ID), nil)
	}
	for _, c := range adminChanges {
		wantStoreErr(t, "staff member: "+c.name, c.do(f, f.user(accounts.RoleStaff, accounts.StatusActive).ID), nil)
	}
	wantStoreErr(t, "demote a disabled admin", changeRole(accounts.RoleStaff)(f, f.user(accounts.RoleAdmin, accounts.StatusDisabled).ID), nil)
	wantStoreErr(t, "force a locked admin to re-register", administer(accounts.ActionForceReregister)(f, f.user(accounts.RoleAdmin, accounts.StatusLocked).ID), nil)
	if f.activeAdmins() != 1 {
		t.Errorf("%d active admins, want 1", f.activeAdmins())
	}
}

// Two admins are each taken out by a different request at the same moment.
// Checked without locks, both would see another
// admin and both would succeed, leaving none. Under the row locks exactly
// one succeeds and the other gets ErrLastAdmin.
//
// To make the two transactions truly overlap, a third transaction holds
// the active admins' rows until both requests are waiting on it.
func TestConcurrentDemotionsOfTheLastTwoAdminsLeaveOne(t *testing.T) {
	db := newStoreFixture(t)
	for _, a := range adminChanges {
		for _, b := range adminChanges {
			t.Run(a.name+" vs "+b.name, func(t *testing.T) {
				f := db.on(t)
				f.retireAdmins()
				first, second := f.user(accounts.RoleAdmin, accounts.StatusActive), f.user(accounts.RoleAdmin, accounts.StatusActive)
				f.user(accounts.RoleAdmin, accounts.StatusDisabled)

				gate, err := f.pool.Begin(f.ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer gate.Rollback(f.ctx)
				if _, err := gate.Exec(f.ctx, `SELECT id FROM users WHERE role = 'admin' AND status = 'active' FOR UPDATE`); err != nil {
					t.Fatal(err)
				}
				errs := make([]error, 2)
				var wg sync.WaitGroup
				wg.Go(func() { errs[0] = a.do(f, first.ID) })
				wg.Go(func() { errs[1] = b.do(f, second.ID) })
				waitForLockWaiters(t, f, 2)
				if err := gate.Commit(f.ctx); err != nil {
					t.Fatal(err)
				}
				wg.Wait()

				ok, last := 0, 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case errors.Is(err, accounts.ErrLastAdmin):
						last++
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}
				if ok != 1 || last != 1 {
					t.Errorf("%d succeeded and %d got ErrLastAdmin (%v), want one of each", ok, last, errs)
				}
				if n := f.activeAdmins(); n != 1 {
					t.Errorf("%d active admins left, want 1", n)
				}
			})
		}
	}
}

// waitForLockWaiters returns once n other backends of this database wait on
// a lock (the gate's rows), failing the test after ten seconds. It asks
// outside the gate's transaction, which would see one frozen snapshot of
// pg_stat_activity.
func waitForLockWaiters(t *testing.T, f *storeFixture, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		var waiting int
		err := f.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'`).Scan(&waiting)
		if err != nil {
			t.Fatalf("waiting for %d lock waiters: %v", n, err)
		}
		if waiting >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
