package postgres_test

import (
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// A reply token is 160 random bits in lower-case base32, safe in an email
// local part, and the database keeps only its SHA-256.
func TestReplyTokenIsRandomAndStoredOnlyAsItsHash(t *testing.T) {
	f := newStoreFixture(t)
	tokens := postgres.NewReplyTokens(f.pool)
	thread := f.threadToProvider(f.user(accounts.RoleStaff, accounts.StatusActive), f.user(accounts.RoleProvider, accounts.StatusPending), "Referral")

	a, err := tokens.MintReplyToken(f.ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	b, err := tokens.MintReplyToken(f.ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z2-7]{32}$`).MatchString(a) || a == b {
		t.Fatalf("tokens %q and %q: want two different 32-character lower-case base32 strings", a, b)
	}
	sum := sha256.Sum256([]byte(a))
	if n := f.count(`SELECT count(*) FROM reply_tokens WHERE token_sha256 = $1 AND thread_id = $2`, sum[:], thread); n != 1 {
		t.Errorf("rows holding the token's hash: %d, want 1", n)
	}
	if n := f.count(`SELECT count(*) FROM reply_tokens WHERE position($1::bytea IN token_sha256) > 0`, []byte(a)); n != 0 {
		t.Errorf("the raw token is in the database")
	}
}

// A token leads to its thread and the thread's provider, whatever case a
// relay gave the address.
func TestReplyTokenResolvesToItsThreadAndProvider(t *testing.T) {
	f := newStoreFixture(t)
	tokens := postgres.NewReplyTokens(f.pool)
	staff := f.user(accounts.RoleStaff, accounts.StatusActive)
	provider := f.user(accounts.RoleProvider, accounts.StatusPending)
	thread := f.threadToProvider(staff, provider, "Referral")
	f.threadToProvider(staff, f.user(accounts.RoleProvider, accounts.StatusActive), "Another provider's thread")
	raw, err := tokens.MintReplyToken(f.ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	for _, spelling := range []string{raw, strings.ToUpper(raw)} {
		got, err := tokens.ReplyTarget(f.ctx, spelling)
		if err != nil {
			t.Fatal(err)
		}
		if got.ThreadID != thread || got.ProviderID != provider.ID || got.ProviderEmail != provider.Email {
			t.Errorf("target %+v, want thread %s of provider %d <%s>", got, thread, provider.ID, provider.Email)
		}
	}
}

// Each rule of a live reply address, broken alone, makes the token answer
// exactly like one that never existed; the control case shows the same
// token resolved before.
func TestReplyTokenRefusedWhenRevokedUnknownOrThreadDead(t *testing.T) {
	f := newStoreFixture(t)
	tokens := postgres.NewReplyTokens(f.pool)
	staff := f.user(accounts.RoleStaff, accounts.StatusActive)
	cases := []struct {
		name string
		kill func(thread string, provider accounts.User)
	}{
		{"revoked", func(thread string, _ accounts.User) {
			if err := tokens.RevokeReplyTokens(f.ctx, thread); err != nil {
				t.Fatal(err)
			}
		}},
		{"thread expired by retention", func(thread string, _ accounts.User) {
			f.exec(`UPDATE threads SET expired_at = now() WHERE id = $1`, thread)
		}},
		{"thread withdrawn (subject key shredded)", func(thread string, _ accounts.User) {
			f.exec(`DELETE FROM data_keys WHERE id = (SELECT subject_key FROM threads WHERE id = $1)`, thread)
		}},
		{"provider disabled", func(_ string, provider accounts.User) {
			f.exec(`UPDATE users SET status = 'disabled' WHERE id = $1`, provider.ID)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := f.on(t)
			provider := f.user(accounts.RoleProvider, accounts.StatusPending)
			thread := f.threadToProvider(staff, provider, c.name)
			raw, err := tokens.MintReplyToken(f.ctx, thread)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tokens.ReplyTarget(f.ctx, raw); err != nil {
				t.Fatalf("before: %v", err)
			}
			c.kill(thread, provider)
			_, err = tokens.ReplyTarget(f.ctx, raw)
			wantStoreErr(t, "after", err, messaging.ErrNotFound)
		})
	}
	t.Run("unknown or malformed", func(t *testing.T) {
		for _, raw := range []string{"", "abc", strings.Repeat("a", 32), strings.Repeat("a", 31) + "1", strings.Repeat("a", 40)} {
			_, err := tokens.ReplyTarget(f.ctx, raw)
			wantStoreErr(t, raw, err, messaging.ErrNotFound)
		}
	})
}

// Revoking a thread's addresses leaves other threads' addresses working,
// and no address can be minted for a thread that cannot take a reply.
func TestReplyTokenRevocationIsPerThreadAndDeadThreadsGetNone(t *testing.T) {
	f := newStoreFixture(t)
	tokens := postgres.NewReplyTokens(f.pool)
	staff := f.user(accounts.RoleStaff, accounts.StatusActive)
	provider := f.user(accounts.RoleProvider, accounts.StatusPending)
	kept, revoked := f.threadToProvider(staff, provider, "Kept"), f.threadToProvider(staff, provider, "Revoked")
	keptToken, err := tokens.MintReplyToken(f.ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tokens.MintReplyToken(f.ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if err := tokens.RevokeReplyTokens(f.ctx, revoked); err != nil {
		t.Fatal(err)
	}
	if got, err := tokens.ReplyTarget(f.ctx, keptToken); err != nil || got.ThreadID != kept {
		t.Errorf("other thread's token after revocation: %+v, %v", got, err)
	}

	f.exec(`UPDATE threads SET expired_at = now() WHERE id = $1`, kept)
	_, err = tokens.MintReplyToken(f.ctx, kept)
	wantStoreErr(t, "mint for an expired thread", err, messaging.ErrNotFound)
	_, err = tokens.MintReplyToken(f.ctx, "00000000-0000-4000-8000-000000000000")
	wantStoreErr(t, "mint for an unknown thread", err, messaging.ErrNotFound)
	_, err = tokens.MintReplyToken(f.ctx, "not-a-thread")
	wantStoreErr(t, "mint for a malformed id", err, messaging.ErrNotFound)
}
