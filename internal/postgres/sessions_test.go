package postgres_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A session saved with its user is read back with that user in the same
// round trip, and SessionUser checks the user read then: bumping the auth
// epoch after the read does not reach this request (the next one sees
// it), which is how the test tells the prefetched user from a fresh read.
// A session without a user, an expired one, and a session saved before
// user_id was kept give no user, and SessionUser reads the database.
func TestSessionStoreReadsTheSessionsUserWithTheSession(t *testing.T) {
	f := newStoreFixture(t)
	u := f.user(accounts.RoleProvider, accounts.StatusActive)
	store := postgres.NewDatabase(f.pool).SessionStore()
	svc := accounts.New(f.accounts, nil, accounts.Settings{}, slog.New(slog.DiscardHandler), time.Now)
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	for token, userID := range map[string]int64{"signed-in": u.ID, "anonymous": 0, "before-user-id": u.ID} {
		if err := store.CommitUser(ctx, token, []byte("data of "+token), later, userID); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.CommitUser(ctx, "expired", []byte("old"), time.Now().Add(-time.Second), u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(ctx, `UPDATE sessions SET user_id = NULL WHERE token = 'before-user-id'`); err != nil {
		t.Fatal(err)
	}
	bumpEpoch := func() {
		t.Helper()
		if _, err := f.pool.Exec(ctx, `UPDATE users SET auth_epoch = auth_epoch + 1 WHERE id = $1`, u.ID); err != nil {
			t.Fatal(err)
		}
	}
	epoch := func() int64 {
		t.Helper()
		var e int64
		if err := f.pool.QueryRow(ctx, `SELECT auth_epoch FROM users WHERE id = $1`, u.ID).Scan(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}

	// Signed in: the user comes with the session.
	rctx := accounts.WithSessionUser(ctx)
	before := epoch()
	b, found, err := store.FindCtx(rctx, "signed-in")
	if err != nil || !found || string(b) != "data of signed-in" {
		t.Fatalf("FindCtx: %q %v %v", b, found, err)
	}
	bumpEpoch()
	if got, err := svc.SessionUser(rctx, u.ID, before); err != nil || got.ID != u.ID {
		t.Errorf("SessionUser after the session's read: %+v %v, want the user read with the session", got, err)
	}
	// Taken once: a second check in the same request reads the database.
	if _, err := svc.SessionUser(rctx, u.ID, before); err != accounts.ErrSessionEnded {
		t.Errorf("second SessionUser with the old epoch: %v, want ErrSessionEnded", err)
	}

	// Asked for another user, SessionUser reads that user, never the
	// one that came with the session.
	other := f.user(accounts.RoleProvider, accounts.StatusActive)
	rctx = accounts.WithSessionUser(ctx)
	if _, _, err := store.FindCtx(rctx, "signed-in"); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.SessionUser(rctx, other.ID, other.AuthEpoch); err != nil || got.ID != other.ID {
		t.Errorf("SessionUser for user %d after reading %d's session: %+v %v", other.ID, u.ID, got, err)
	}
	for _, token := range []string{"anonymous", "before-user-id", "expired"} {
		rctx := accounts.WithSessionUser(ctx)
		before := epoch()
		_, found, err := store.FindCtx(rctx, token)
		if err != nil || found != (token != "expired") {
			t.Fatalf("%s: found %v, err %v", token, found, err)
		}
		bumpEpoch()
		if _, err := svc.SessionUser(rctx, u.ID, before); err != accounts.ErrSessionEnded {
			t.Errorf("%s: SessionUser with an epoch changed after the read: %v, want ErrSessionEnded (read afresh)", token, err)
		}
	}

	// Without room for the user, only the session is read.
	if b, found, err := store.Find("signed-in"); err != nil || !found || string(b) != "data of signed-in" {
		t.Errorf("Find: %q %v %v", b, found, err)
	}
	if err := store.Delete("signed-in"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := store.FindCtx(accounts.WithSessionUser(ctx), "signed-in"); found {
		t.Error("a deleted session is still found")
	}
}
