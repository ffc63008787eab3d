package postgres_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
)

// link stores an emailed-link token for u and returns its hash, as the
// mail job does (the raw token never reaches the database).
func (f *storeFixture) link(u accounts.User, purpose accounts.Purpose, expires time.Time) []byte {
	f.t.Helper()
	sum := sha256.Sum256(fmt.Appendf(nil, "token %d", f.next()))
	if err := f.accounts.InsertToken(f.ctx, accounts.Token{UserID: u.ID, Purpose: purpose, ExpiresAt: expires}, sum[:]); err != nil {
		f.t.Fatal(err)
	}
	return sum[:]
}

// live reports whether the link with hash sum still works at now.
func (f *storeFixture) live(sum []byte, now time.Time) bool {
	f.t.Helper()
	_, err := f.accounts.TokenByHash(f.ctx, sum, now)
	if err != nil && !isNotFound(err) {
		f.t.Fatal(err)
	}
	return err == nil
}

func isNotFound(err error) bool { return errors.Is(err, accounts.ErrNotFound) }

// complete uses the link as its purpose says: registration for a pending
// account, a new password for an active one.
func (f *storeFixture) complete(sum []byte, now time.Time) error {
	f.t.Helper()
	tok, err := f.accounts.TokenByHashAnyState(f.ctx, sum)
	if err != nil {
		f.t.Fatal(err)
	}
	ev := audit.Event{Action: audit.ResetCompleted, TargetType: "user", TargetID: fmt.Sprint(tok.UserID)}
	if tok.Purpose == accounts.PurposeRegister {
		_, err = f.accounts.CompleteRegistration(f.ctx, tok.ID, tok.UserID, "Dr. Who", newHash, now, ev)
	} else {
		_, err = f.accounts.CompleteReset(f.ctx, tok.ID, tok.UserID, newHash, now, ev)
	}
	return err
}

var linkPurposes = []struct {
	purpose accounts.Purpose
	status  accounts.Status // the state an account must be in to use it
}{{accounts.PurposeRegister, accounts.StatusPending}, {accounts.PurposeReset, accounts.StatusActive}}

func other(p accounts.Purpose) accounts.Purpose {
	if p == accounts.PurposeRegister {
		return accounts.PurposeReset
	}
	return accounts.PurposeRegister
}

// A newer link voids the older unused ones of the same user and purpose,
// and nothing else: not the other purpose's, not another user's.
func TestNewerLinkVoidsOlder(t *testing.T) {
	db := newStoreFixture(t)
	for _, c := range linkPurposes {
		t.Run(string(c.purpose), func(t *testing.T) {
			f := db.on(t)
			now := time.Now()
			u, someoneElse := f.user(accounts.RoleProvider, c.status), f.user(accounts.RoleProvider, c.status)
			older := f.link(u, c.purpose, now.Add(time.Hour))
			otherPurpose := f.link(u, other(c.purpose), now.Add(time.Hour))
			theirs := f.link(someoneElse, c.purpose, now.Add(time.Hour))
			newer := f.link(u, c.purpose, now.Add(time.Hour))

			for _, l := range []struct {
				name string
				sum  []byte
				want bool
			}{{"older", older, false}, {"newer", newer, true}, {"other purpose", otherPurpose, true}, {"another user's", theirs, true}} {
				if got := f.live(l.sum, now); got != l.want {
					t.Errorf("%s link works = %v, want %v", l.name, got, l.want)
				}
			}
			tok, err := f.accounts.TokenByHashAnyState(f.ctx, older)
			if err != nil || tok.UsedAt.IsZero() || tok.UserID != u.ID {
				t.Errorf("the voided link is not known as used (for \"send me a new link\"): %+v, %v", tok, err)
			}
			wantStoreErr(t, "completing with the voided link", f.complete(older, now), accounts.ErrNotFound)
			wantStoreErr(t, "completing with the newer link", f.complete(newer, now), nil)
		})
	}
}

func TestLinkIsSingleUse(t *testing.T) {
	db := newStoreFixture(t)
	for _, c := range linkPurposes {
		t.Run(string(c.purpose), func(t *testing.T) {
			f := db.on(t)
			now := time.Now()
			u := f.user(accounts.RoleProvider, c.status)
			sum := f.link(u, c.purpose, now.Add(time.Hour))
			wantStoreErr(t, "first use", f.complete(sum, now), nil)
			if f.live(sum, now) {
				t.Error("a used link still works")
			}
			epoch := f.count(`SELECT auth_epoch FROM users WHERE id = $1`, u.ID)
			wantStoreErr(t, "second use", f.complete(sum, now), accounts.ErrNotFound)
			if f.count(`SELECT auth_epoch FROM users WHERE id = $1`, u.ID) != epoch {
				t.Error("the refused second use changed the account")
			}
		})
	}
}

// A double submit (or two tabs) racing with one link: exactly one wins,
// and the password changes once.
func TestConcurrentUsesOfOneLinkSucceedOnce(t *testing.T) {
	db := newStoreFixture(t)
	for _, c := range linkPurposes {
		t.Run(string(c.purpose), func(t *testing.T) {
			f := db.on(t)
			now := time.Now()
			u := f.user(accounts.RoleProvider, c.status)
			sum := f.link(u, c.purpose, now.Add(time.Hour))
			tok, _ := f.accounts.TokenByHash(f.ctx, sum, now)
			epoch := f.count(`SELECT auth_epoch FROM users WHERE id = $1`, u.ID)
			errs := make([]error, 6)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					ev := audit.Event{Action: audit.ResetCompleted, TargetType: "user"}
					if c.purpose == accounts.PurposeRegister {
						_, errs[i] = f.accounts.CompleteRegistration(f.ctx, tok.ID, u.ID, "Dr. Who", newHash, now, ev)
					} else {
						_, errs[i] = f.accounts.CompleteReset(f.ctx, tok.ID, u.ID, newHash, now, ev)
					}
				})
			}
			wg.Wait()
			won := 0
			for _, err := range errs {
				if err == nil {
					won++
				} else if !isNotFound(err) {
					t.Errorf("a losing use failed with %v, want ErrNotFound", err)
				}
			}
			if won != 1 {
				t.Errorf("%d of %d concurrent uses succeeded, want exactly 1", won, len(errs))
			}
			bumps := f.count(`SELECT auth_epoch FROM users WHERE id = $1`, u.ID) - epoch
			if c.purpose == accounts.PurposeReset && bumps != 1 {
				t.Errorf("the password was set %d times", bumps)
			}
		})
	}
}

// A link works until the instant it expires, not at it; an expired link is
// still found in any state, so the page can offer a new one.
func TestExpiredLinkIsRefusedButStillKnown(t *testing.T) {
	db := newStoreFixture(t)
	expires := time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"a microsecond before expiry", expires.Add(-time.Microsecond), true},
		{"at expiry", expires, false},
		{"a day after", expires.Add(24 * time.Hour), false},
	}
	for _, p := range linkPurposes {
		for _, c := range cases {
			t.Run(string(p.purpose)+" "+c.name, func(t *testing.T) {
				f := db.on(t)
				sum := f.link(f.user(accounts.RoleProvider, p.status), p.purpose, expires)
				if got := f.live(sum, c.now); got != c.want {
					t.Errorf("link works = %v, want %v", got, c.want)
				}
				err := f.complete(sum, c.now)
				if c.want {
					wantStoreErr(t, "using a live link", err, nil)
					return
				}
				wantStoreErr(t, "using an expired link", err, accounts.ErrNotFound)
				if tok, err := f.accounts.TokenByHashAnyState(f.ctx, sum); err != nil || !tok.UsedAt.IsZero() {
					t.Errorf("expired link in any state: %+v, %v; want found and unused", tok, err)
				}
			})
		}
	}
}

// A link completes only the account it was made for, and only while the
// account is in the state its purpose needs; a refusal leaves the link
// usable (the transaction rolled back).
func TestLinkCompletesOnlyItsOwnAccountInTheRightState(t *testing.T) {
	f := newStoreFixture(t)
	now := time.Now()
	owner, victim := f.user(accounts.RoleProvider, accounts.StatusActive), f.user(accounts.RoleAdmin, accounts.StatusActive)
	reset := f.link(owner, accounts.PurposeReset, now.Add(time.Hour))
	tok, _ := f.accounts.TokenByHash(f.ctx, reset, now)
	_, err := f.accounts.CompleteReset(f.ctx, tok.ID, victim.ID, newHash, now, audit.Event{Action: audit.ResetCompleted})
	wantStoreErr(t, "another account with this link", err, accounts.ErrNotFound)
	if v, _ := f.accounts.UserByID(f.ctx, victim.ID); v.PasswordHash != victim.PasswordHash {
		t.Error("someone else's link changed the admin's password")
	}

	register := f.link(owner, accounts.PurposeRegister, now.Add(time.Hour)) // owner is active, not pending
	wantStoreErr(t, "registering an active account", f.complete(register, now), accounts.ErrNotFound)
	disabled := f.user(accounts.RoleProvider, accounts.StatusActive)
	disabledReset := f.link(disabled, accounts.PurposeReset, now.Add(time.Hour))
	f.exec(`UPDATE users SET status = 'disabled' WHERE id = $1`, disabled.ID)
	wantStoreErr(t, "resetting a disabled account", f.complete(disabledReset, now), accounts.ErrNotFound)
	for name, sum := range map[string][]byte{"own reset link": reset, "refused registration link": register, "refused reset link": disabledReset} {
		if !f.live(sum, now) {
			t.Errorf("%s was consumed by a refused use", name)
		}
	}
}

// Disabling an account or forcing it to re-register voids every link it
// has outstanding, of both purposes.
func TestAccountSwitchedOffLosesItsLinks(t *testing.T) {
	db := newStoreFixture(t)
	for _, action := range []accounts.AdminAction{accounts.ActionDisable, accounts.ActionForceReregister} {
		t.Run(string(action), func(t *testing.T) {
			f := db.on(t)
			now := time.Now()
			u := f.user(accounts.RoleStaff, accounts.StatusActive)
			links := [][]byte{f.link(u, accounts.PurposeReset, now.Add(time.Hour)), f.link(u, accounts.PurposeRegister, now.Add(time.Hour))}
			bystander := f.link(f.user(accounts.RoleStaff, accounts.StatusActive), accounts.PurposeReset, now.Add(time.Hour))
			if _, err := f.accounts.Administer(f.ctx, u.ID, action, audit.Event{Action: "admin.user_" + audit.Action(action)}); err != nil {
				t.Fatal(err)
			}
			for i, sum := range links {
				if f.live(sum, now) {
					t.Errorf("link %d survived %s", i, action)
				}
			}
			if !f.live(bystander, now) {
				t.Errorf("%s of one account voided another's link", action)
			}
		})
	}
}
