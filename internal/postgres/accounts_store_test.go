package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

// jobsFor counts the account jobs queued for a user.
func (f *storeFixture) jobsFor(userID int64) int {
	f.t.Helper()
	return f.count(`SELECT count(*) FROM river_job WHERE args->>'user_id' = $1`, fmt.Sprint(userID))
}

// Failed sign-ins count up to the threshold, which locks the account until
// the given time and starts the count over; a success clears both. (The
// service records no failures while the lock lasts: each call's lockUntil
// is a later time.)
func TestFailedSignInsLockAtThresholdAndCountStartsOver(t *testing.T) {
	f := newStoreFixture(t)
	u := f.user(accounts.RoleProvider, accounts.StatusActive)
	start := time.Now().Truncate(time.Microsecond)
	steps := []struct {
		wantLocked bool
		wantCount  int
	}{{false, 1}, {false, 2}, {true, 0}, {false, 1}, {false, 2}}
	var lockedUntil time.Time
	for i, st := range steps {
		until := start.Add(time.Duration(i) * time.Hour)
		locked, err := f.accounts.RecordLoginFailure(f.ctx, u.ID, 3, until, audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(u.ID)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.accounts.UserByID(f.ctx, u.ID)
		if locked != st.wantLocked || got.FailedLogins != st.wantCount {
			t.Errorf("failure %d: locked %v with count %d, want %v with %d", i+1, locked, got.FailedLogins, st.wantLocked, st.wantCount)
		}
		if st.wantLocked {
			lockedUntil = until
		}
		if !got.LockedUntil.Equal(lockedUntil) {
			t.Errorf("failure %d: locked until %v, want %v", i+1, got.LockedUntil, lockedUntil)
		}
	}
	if n := f.audits(audit.AccountLocked); n != 1 {
		t.Errorf("%d lockouts audited, want 1", n)
	}

	if err := f.accounts.RecordLoginSuccess(f.ctx, u.ID, "", audit.Event{Action: audit.LoginSucceeded, ActorID: u.ID}); err != nil {
		t.Fatal(err)
	}
	got, _ := f.accounts.UserByID(f.ctx, u.ID)
	if got.FailedLogins != 0 || !got.LockedUntil.IsZero() || got.LastLoginAt.IsZero() || got.PasswordHash != u.PasswordHash {
		t.Errorf("after a success: %+v", got)
	}
	if err := f.accounts.RecordLoginSuccess(f.ctx, u.ID, newHash, audit.Event{Action: audit.LoginSucceeded, ActorID: u.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.accounts.UserByID(f.ctx, u.ID); got.PasswordHash != newHash || f.audits(audit.PasswordRehashed) != 1 {
		t.Errorf("a rehash on sign-in: hash %q, %d rehash events", got.PasswordHash, f.audits(audit.PasswordRehashed))
	}
}

// Each admin action applies only to accounts in the states it is for; in
// any other state (a stale page, a double submit) it changes nothing,
// audits nothing and queues nothing.
func TestAdminActionsApplyOnlyToAccountsInTheirStates(t *testing.T) {
	f := newStoreFixture(t)
	f.user(accounts.RoleAdmin, accounts.StatusActive) // so that no case is the last admin
	type state struct {
		status      accounts.Status
		tempLocked  bool
		noPassword  bool
		wantStatus  accounts.Status // "" when the action must be refused
		wantEndsAll bool            // auth epoch bumped
	}
	cases := map[accounts.AdminAction][]state{
		accounts.ActionResetLink: {
			{status: accounts.StatusActive, wantStatus: accounts.StatusActive, wantEndsAll: true},
			{status: accounts.StatusLocked, wantStatus: accounts.StatusActive, wantEndsAll: true},
			{status: accounts.StatusPending},
			{status: accounts.StatusDisabled},
		},
		accounts.ActionForceReregister: {
			{status: accounts.StatusActive, wantStatus: accounts.StatusPending, wantEndsAll: true},
			{status: accounts.StatusLocked, wantStatus: accounts.StatusPending, wantEndsAll: true},
			{status: accounts.StatusPending},
			{status: accounts.StatusDisabled},
		},
		accounts.ActionUnlock: {
			{status: accounts.StatusLocked, wantStatus: accounts.StatusActive},
			{status: accounts.StatusActive, tempLocked: true, wantStatus: accounts.StatusActive},
			{status: accounts.StatusActive},
			{status: accounts.StatusDisabled},
		},
		accounts.ActionDisable: {
			{status: accounts.StatusActive, wantStatus: accounts.StatusDisabled, wantEndsAll: true},
			{status: accounts.StatusPending, wantStatus: accounts.StatusDisabled, wantEndsAll: true},
			{status: accounts.StatusDisabled},
		},
		accounts.ActionEnable: {
			{status: accounts.StatusDisabled, wantStatus: accounts.StatusActive},
			{status: accounts.StatusDisabled, noPassword: true, wantStatus: accounts.StatusPending},
			{status: accounts.StatusActive},
		},
		accounts.ActionResendRegistration: {
			{status: accounts.StatusPending, wantStatus: accounts.StatusPending},
			{status: accounts.StatusActive},
		},
		accounts.ActionEndSessions: {
			{status: accounts.StatusActive, wantEndsAll: true, wantStatus: accounts.StatusActive},
			{status: accounts.StatusLocked},
			{status: accounts.StatusDisabled},
		},
	}
	for action, states := range cases {
		for _, s := range states {
			name := fmt.Sprintf("%s on %s (temporarily locked %v, no password %v)", action, s.status, s.tempLocked, s.noPassword)
			u := f.user(accounts.RoleStaff, accounts.StatusActive)
			if s.noPassword {
				u = f.user(accounts.RoleStaff, accounts.StatusPending)
			}
			f.exec(`UPDATE users SET status = $2, locked_until = CASE WHEN $3 THEN now() + interval '1 hour' END WHERE id = $1`, u.ID, s.status, s.tempLocked)
			before, _ := f.accounts.UserByID(f.ctx, u.ID)
			events := f.audits("admin.test_action")
			got, err := f.accounts.Administer(f.ctx, u.ID, action, audit.Event{Action: "admin.test_action", TargetType: "user"},
				accounts.LinkEmail{UserID: u.ID, Purpose: accounts.PurposeReset})
			after, _ := f.accounts.UserByID(f.ctx, u.ID)
			if s.wantStatus == "" {
				wantStoreErr(t, name, err, accounts.ErrNotFound)
				if after != before || f.audits("admin.test_action") != events || f.jobsFor(u.ID) != 0 {
					t.Errorf("%s: refused, yet the account, audit log or job queue changed", name)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if after.Status != s.wantStatus || got.Status != s.wantStatus {
				t.Errorf("%s: status %s, want %s", name, after.Status, s.wantStatus)
			}
			if ended := after.AuthEpoch != before.AuthEpoch; ended != s.wantEndsAll {
				t.Errorf("%s: sessions ended = %v, want %v", name, ended, s.wantEndsAll)
			}
			if action == accounts.ActionUnlock && (!after.LockedUntil.IsZero() || after.FailedLogins != 0) {
				t.Errorf("%s: still locked until %v", name, after.LockedUntil)
			}
			if action == accounts.ActionForceReregister && after.PasswordHash != "" {
				t.Errorf("%s: the password survived", name)
			}
			if f.audits("admin.test_action") != events+1 || f.jobsFor(u.ID) != 1 {
				t.Errorf("%s: applied without its audit event and job", name)
			}
		}
	}
}

// Emails are usernames compared without regard to case: a second account
// for the same address is refused and leaves no trace.
func TestEmailIsTakenWhateverItsCase(t *testing.T) {
	f := newStoreFixture(t)
	queue := func(u accounts.User) []accounts.Job {
		return []accounts.Job{accounts.LinkEmail{UserID: u.ID, Purpose: accounts.PurposeRegister}}
	}
	first, err := f.accounts.CreateUser(f.ctx, accounts.NewUser{Email: "Dr.Kim@Clinic.test", Role: accounts.RoleProvider},
		audit.Event{Action: audit.UserCreated, TargetType: "user"}, queue)
	if err != nil || first.Status != accounts.StatusPending || f.jobsFor(first.ID) != 1 {
		t.Fatalf("first account: %+v, %v, %d jobs for it", first, err, f.jobsFor(first.ID))
	}
	if n := f.count(`SELECT count(*) FROM audit_events WHERE action = 'user.created' AND target_id = $1`, fmt.Sprint(first.ID)); n != 1 {
		t.Errorf("creation audited %d times against the new id", n)
	}
	jobs, events := f.count(`SELECT count(*) FROM river_job`), f.audits(audit.UserCreated)
	_, err = f.accounts.CreateUser(f.ctx, accounts.NewUser{Email: "dr.kim@clinic.TEST", Role: accounts.RoleStaff},
		audit.Event{Action: audit.UserCreated, TargetType: "user"}, queue)
	wantStoreErr(t, "same address, other case", err, accounts.ErrEmailTaken)
	if f.count(`SELECT count(*) FROM river_job`) != jobs || f.audits(audit.UserCreated) != events {
		t.Error("the refused account left a job or an audit event")
	}
	if u, err := f.accounts.UserByEmail(f.ctx, "DR.KIM@CLINIC.TEST"); err != nil || u.ID != first.ID {
		t.Errorf("lookup in another case: %+v, %v", u, err)
	}
}

// Setting a password ends every session (auth epoch) and clears failed
// sign-ins; only an active account can have its password changed.
func TestPasswordChangeEndsSessionsOfActiveAccountsOnly(t *testing.T) {
	f := newStoreFixture(t)
	for _, status := range []accounts.Status{accounts.StatusActive, accounts.StatusLocked, accounts.StatusDisabled, accounts.StatusPending} {
		u := f.user(accounts.RoleProvider, status)
		f.exec(`UPDATE users SET failed_logins = 4, locked_until = now() + interval '1 hour' WHERE id = $1`, u.ID)
		got, err := f.accounts.ChangePassword(f.ctx, u.ID, newHash, time.Now(), audit.Event{Action: audit.PasswordChanged},
			accounts.PasswordChangedEmail{UserID: u.ID})
		after, _ := f.accounts.UserByID(f.ctx, u.ID)
		if status != accounts.StatusActive {
			wantStoreErr(t, "password change on a "+string(status)+" account", err, accounts.ErrNotFound)
			if after.PasswordHash != u.PasswordHash || after.AuthEpoch != u.AuthEpoch || f.jobsFor(u.ID) != 0 {
				t.Errorf("refused change on a %s account changed it", status)
			}
			continue
		}
		if err != nil || got.PasswordHash != newHash || after.AuthEpoch != u.AuthEpoch+1 || after.FailedLogins != 0 || !after.LockedUntil.IsZero() {
			t.Errorf("password change: %+v, %v", after, err)
		}
		if f.jobsFor(u.ID) != 1 {
			t.Error("no password-changed email queued")
		}
	}
}

// The account page shows the sign-in before the current one and the failed
// attempts since it, from the audit log.
func TestSignInHistoryIsThePreviousSignInAndFailuresSince(t *testing.T) {
	f := newStoreFixture(t)
	u, other := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusActive)
	signIn := func(id int64, ip string) {
		f.t.Helper()
		if err := f.accounts.Record(f.ctx, audit.Event{ActorID: id, Action: audit.LoginSucceeded, TargetType: "user", TargetID: fmt.Sprint(id), IP: ip}); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(id int64) {
		f.t.Helper()
		if err := f.accounts.Record(f.ctx, audit.Event{Action: audit.LoginFailed, TargetType: "user", TargetID: fmt.Sprint(id)}); err != nil {
			t.Fatal(err)
		}
	}
	fail(u.ID)
	signIn(u.ID, "192.0.2.10")
	if h, err := f.accounts.SignInHistory(f.ctx, u.ID); err != nil || !h.Previous.IsZero() || h.FailedSince != 1 {
		t.Errorf("first sign-in: %+v, %v; want no previous and the 1 failure ever", h, err)
	}
	fail(u.ID)
	fail(u.ID)
	fail(other.ID)
	signIn(other.ID, "198.51.100.1")
	signIn(u.ID, "192.0.2.11")
	h, err := f.accounts.SignInHistory(f.ctx, u.ID)
	if err != nil || h.Previous.IsZero() || h.PreviousIP != "192.0.2.10" || h.FailedSince != 2 {
		t.Errorf("second sign-in: %+v, %v; want previous from 192.0.2.10 and 2 failures since", h, err)
	}
}
