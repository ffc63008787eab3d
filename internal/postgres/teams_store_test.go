package postgres_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
)

func (f *storeFixture) teamIDsOf(u accounts.User) []int64 {
	f.t.Helper()
	teams, err := f.messages.TeamsOf(f.ctx, u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	var ids []int64
	for _, t := range teams {
		ids = append(ids, t.ID)
	}
	return ids
}

// Only representatives join teams; an unknown team is not found. Every
// change, and nothing else, is audited.
func TestOnlyRepresentativesJoinTeams(t *testing.T) {
	f := newStoreFixture(t)
	admin := asEmergency(f.user(accounts.RoleAdmin, accounts.StatusActive))
	team, err := f.messages.CreateTeam(f.ctx, admin, "Claims", "Commercial")
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.messages.CreateTeam(f.ctx, admin, "Claims", "Medicare")
	wantStoreErr(t, "a second team called Claims", err, messaging.ErrTeamExists)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	cases := []struct {
		name   string
		team   int64
		email  string
		member bool
		want   error
	}{
		{"a representative joins", team, rep.Email, true, nil},
		{"joining twice is a no-op", team, rep.Email, true, nil},
		{"a provider", team, f.user(accounts.RoleProvider, accounts.StatusActive).Email, true, messaging.ErrNotStaff},
		{"an admin", team, f.user(accounts.RoleAdmin, accounts.StatusActive).Email, true, messaging.ErrNotStaff},
		{"nobody", team, "nobody@example.test", true, messaging.ErrNotStaff},
		{"an unknown team", team + 1000, rep.Email, true, messaging.ErrNotFound},
	}
	for _, c := range cases {
		events := f.audits(audit.TeamChanged)
		err := f.messages.SetMembership(f.ctx, admin, c.team, c.email, c.member)
		wantStoreErr(t, c.name, err, c.want)
		if want := events + map[bool]int{true: 1, false: 0}[c.want == nil]; f.audits(audit.TeamChanged) != want {
			t.Errorf("%s: %d audit events, want %d", c.name, f.audits(audit.TeamChanged)-events, want-events)
		}
	}
	if n := f.count(`SELECT count(*) FROM team_members`); n != 1 {
		t.Errorf("%d memberships, want only the representative's", n)
	}
	if err := f.messages.SetMembership(f.ctx, admin, team, rep.Email, false); err != nil || len(f.teamIDsOf(rep)) != 0 {
		t.Errorf("leaving the team: %v, still in %v", err, f.teamIDsOf(rep))
	}
}

// Only representatives belong to teams: a role change away from staff
// drops every membership (and ends the account's sessions); one that stays
// staff keeps them.
func TestRoleChangeAwayFromStaffLeavesTeams(t *testing.T) {
	f := newStoreFixture(t)
	f.user(accounts.RoleAdmin, accounts.StatusActive)
	for _, role := range []accounts.Role{accounts.RoleStaff, accounts.RoleProvider, accounts.RoleAdmin} {
		rep := f.user(accounts.RoleStaff, accounts.StatusActive)
		teams := []int64{f.team("North "+fmt.Sprint(rep.ID), rep), f.team("South "+fmt.Sprint(rep.ID), rep)}
		got, err := f.accounts.ChangeRole(f.ctx, rep.ID, role, audit.Event{Action: audit.RoleChanged})
		if err != nil || got.Role != role || got.AuthEpoch != rep.AuthEpoch+1 {
			t.Errorf("change to %s: %+v, %v", role, got, err)
		}
		want := teams
		if role != accounts.RoleStaff {
			want = nil
		}
		if ids := f.teamIDsOf(rep); !slices.Equal(ids, want) {
			t.Errorf("after becoming %s: teams %v, want %v", role, ids, want)
		}
	}
}

// A representative's new thread is shared with their team when they are
// in exactly one; with none or several it is theirs alone.
func TestThreadFromRepresentativeIsSharedWithTheirOnlyTeam(t *testing.T) {
	f := newStoreFixture(t)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	for _, teams := range []int{0, 1, 2} {
		rep, mate := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
		var first int64
		for i := range teams {
			id := f.team(fmt.Sprintf("Team %d-%d", rep.ID, i), rep, mate)
			if i == 0 {
				first = id
			}
		}
		thread := f.threadToProvider(rep, p, "hello")
		var got int64
		f.pool.QueryRow(f.ctx, `SELECT coalesce(team_id, 0) FROM threads WHERE id = $1`, thread).Scan(&got)
		want := map[int]int64{0: 0, 1: first, 2: 0}[teams]
		if got != want {
			t.Errorf("representative in %d teams: thread shared with team %d, want %d", teams, got, want)
		}
		_, err := f.messages.Thread(f.ctx, asStaff(mate), thread)
		if teams == 1 {
			wantStoreErr(t, "teammate, one team", err, nil)
		} else {
			wantStoreErr(t, fmt.Sprintf("colleague, %d teams", teams), err, messaging.ErrNotFound)
		}
	}
}

// A provider may write to a team, or to a representative they already
// correspond with who is still active; anything else is refused and
// stores nothing. Recipients offers exactly those.
func TestProviderWritesOnlyToRecipientsTheyAreOffered(t *testing.T) {
	f := newStoreFixture(t)
	p := f.user(accounts.RoleProvider, accounts.StatusActive)
	known, gone, stranger := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	team := f.team("Provider Services", stranger)
	f.threadToProvider(known, p, "hello")
	f.threadToProvider(gone, p, "hello")
	f.exec(`UPDATE users SET status = 'disabled' WHERE id = $1`, gone.ID)
	f.threadToProvider(stranger, f.user(accounts.RoleProvider, accounts.StatusActive), "someone else")

	offered, err := f.messages.Recipients(f.ctx, asProvider(p))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range offered {
		keys = append(keys, r.Key)
	}
	wantKeys := []string{fmt.Sprint("staff:", known.ID), fmt.Sprint("team:", team)}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("recipients offered %v, want %v", keys, wantKeys)
	}
	cases := []struct {
		key  string
		want error
	}{
		{fmt.Sprint("staff:", known.ID), nil},
		{fmt.Sprint("team:", team), nil},
		{fmt.Sprint("staff:", gone.ID), messaging.ErrRecipientUnset},
		{fmt.Sprint("staff:", stranger.ID), messaging.ErrRecipientUnset},
		{fmt.Sprint("staff:", p.ID), messaging.ErrRecipientUnset},
		{fmt.Sprint("team:", team+1000), messaging.ErrRecipientUnset},
		{fmt.Sprint("admin:", known.ID), messaging.ErrRecipientUnset},
		{"staff:", messaging.ErrRecipientUnset},
		{"", messaging.ErrRecipientUnset},
	}
	for _, c := range cases {
		threads := f.count(`SELECT count(*) FROM threads`)
		_, err := f.messages.StartThreadFromProvider(f.ctx, asProvider(p), c.key, "subject", messaging.NewMessage{Body: "body"})
		wantStoreErr(t, "recipient "+c.key, err, c.want)
		if grew := f.count(`SELECT count(*) FROM threads`) - threads; (c.want == nil) != (grew == 1) {
			t.Errorf("recipient %q: %d threads stored", c.key, grew)
		}
	}
}

// A representative writes to a provider by address: an unknown address
// becomes a pending provider account (audited, and notified); a staff
// address or a disabled provider is refused and nothing is stored.
func TestThreadToProviderAddressCreatesOrRefuses(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	existing := f.user(accounts.RoleProvider, accounts.StatusActive)
	off := f.user(accounts.RoleProvider, accounts.StatusDisabled)
	cases := []struct {
		email       string
		want        error
		wantCreated bool
	}{
		{"New.Clinic@Example.test", nil, true},
		{"new.clinic@example.test", nil, false},
		{existing.Email, nil, false},
		{rep.Email, messaging.ErrNotAProvider, false},
		{off.Email, messaging.ErrProviderOff, false},
	}
	for _, c := range cases {
		users, threads, created := f.count(`SELECT count(*) FROM users`), f.count(`SELECT count(*) FROM threads`), f.audits(audit.UserCreated)
		id, err := f.messages.StartThreadToProvider(f.ctx, asStaff(rep), c.email, "subject", messaging.NewMessage{Body: "body"})
		wantStoreErr(t, c.email, err, c.want)
		if grew := f.count(`SELECT count(*) FROM users`) - users; grew != map[bool]int{true: 1}[c.wantCreated] {
			t.Errorf("%s: %d accounts created", c.email, grew)
		}
		if c.wantCreated && f.audits(audit.UserCreated) != created+1 {
			t.Errorf("%s: the new provider account was not audited", c.email)
		}
		if c.want != nil {
			if f.count(`SELECT count(*) FROM threads`) != threads {
				t.Errorf("%s: refused, yet a thread was stored", c.email)
			}
			continue
		}
		u, _ := f.accounts.UserByEmail(f.ctx, c.email)
		if n := f.count(`SELECT count(*) FROM threads WHERE id = $1 AND provider_id = $2`, id, u.ID); n != 1 || u.Role != accounts.RoleProvider {
			t.Errorf("%s: thread not addressed to the provider account %+v", c.email, u)
		}
		if n := f.count(`SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND args->>'recipient_id' = $1`, fmt.Sprint(u.ID)); n == 0 {
			t.Errorf("%s: the provider is not notified", c.email)
		}
	}
}
