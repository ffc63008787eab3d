package postgres_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Who a provider's message notifies while representatives are out of
// office: the owner when at their desk; else the teammates at theirs; else
// (the whole team away) every active teammate. An away owner's thread is
// the team's in the "Team unassigned" list.
func TestProviderMessagesGoToWhoeverIsNotAway(t *testing.T) {
	f := newStoreFixture(t)
	owner, mate, third := f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleStaff, accounts.StatusActive)
	prov := f.user(accounts.RoleProvider, accounts.StatusActive)
	f.team("LA", owner, mate, third)
	tid := f.threadToProvider(owner, prov, "Referral")
	away := func(u accounts.User, days int) {
		t.Helper()
		a := messaging.Away{}
		if days > 0 {
			a = messaging.Away{From: time.Now().Add(-time.Hour), Until: time.Now().AddDate(0, 0, days)}
		}
		if err := f.messages.SetAway(f.ctx, asStaff(u), a); err != nil {
			t.Fatal(err)
		}
	}
	notified := func(body string) []string {
		t.Helper()
		before := f.count(`SELECT count(*) FROM river_job WHERE kind = 'message_notification'`)
		f.reply(asProvider(prov), tid, body)
		got := f.column(`SELECT args->>'recipient_id' FROM river_job WHERE kind = 'message_notification' ORDER BY id OFFSET $1`, before)
		slices.Sort(got)
		return got
	}
	id := func(us ...accounts.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, fmt.Sprint(u.ID))
		}
		slices.Sort(out)
		return out
	}
	unassigned := func() bool { _, ok := f.inbox(asStaff(mate), messaging.FilterNoOwner)[tid]; return ok }

	if got := notified("1"); !slices.Equal(got, id(owner)) || unassigned() {
		t.Errorf("owner at their desk: notified %v, team's %v; want the owner only, not the team's", got, unassigned())
	}
	away(owner, 3)
	if got := notified("2"); !slices.Equal(got, id(mate, third)) || !unassigned() {
		t.Errorf("owner away: notified %v, team's %v; want the two teammates, the team's", got, unassigned())
	}
	away(third, 3)
	if got := notified("3"); !slices.Equal(got, id(mate)) {
		t.Errorf("owner and one teammate away: notified %v; want the one at their desk", got)
	}
	away(mate, 3)
	if got := notified("4"); !slices.Equal(got, id(owner, mate, third)) {
		t.Errorf("everyone away: notified %v; want every active member rather than nobody", got)
	}
	away(owner, 0)
	if got := notified("5"); !slices.Equal(got, id(owner)) || unassigned() {
		t.Errorf("owner back: notified %v, team's %v; want the owner again", got, unassigned())
	}
}
