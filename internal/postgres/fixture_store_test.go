package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// storeFixture is a fresh migrated database with the account and messaging
// stores over it, as the portal builds them: a real keyring, real data keys
// and a real (insert-only) River client, so jobs land in river_job.
type storeFixture struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	accounts *postgres.AccountStore
	messages *postgres.MessagingStore
	seq      *int // shared with the fixture's views for subtests
	keys     *postgres.DataKeys
	jobs     postgres.JobInserter
}

func newStoreFixture(t *testing.T) *storeFixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	jobs, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	keys := postgres.NewDataKeys(pool, newKeyring(t), 64, slog.New(slog.DiscardHandler))
	return &storeFixture{
		t: t, ctx: context.Background(), pool: pool,
		accounts: postgres.NewAccountStore(pool, jobs, keys),
		messages: postgres.NewMessagingStore(pool, keys, jobs, postgres.MessagingLimits{MaxFileBytes: 1 << 20, MaxFiles: 3}),
		seq:      new(int),
		keys:     keys, jobs: jobs,
	}
}

// withLimits is the same database and keys with a messaging store under
// other limits.
func (f *storeFixture) withLimits(l postgres.MessagingLimits) *postgres.MessagingStore {
	return postgres.NewMessagingStore(f.pool, f.keys, f.jobs, l)
}

// on is the same database seen from subtest t, so table cases can share
// one database (each with its own accounts) instead of cloning one each.
func (f *storeFixture) on(t *testing.T) *storeFixture {
	c := *f
	c.t = t
	return &c
}

func (f *storeFixture) next() int {
	*f.seq++
	return *f.seq
}

// newHash is a password hash that replaces the fixture accounts' own.
const newHash = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g"

// user creates an account with role and status: active accounts get a
// password hash, pending ones none; locked and disabled are set afterwards,
// as an admin would.
func (f *storeFixture) user(role accounts.Role, status accounts.Status) accounts.User {
	f.t.Helper()
	n := f.next()
	nu := accounts.NewUser{Email: fmt.Sprintf("%s%d@example.test", role, n), DisplayName: fmt.Sprintf("%s %d", role, n), Role: role}
	if status != accounts.StatusPending {
		nu.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	}
	u, err := f.accounts.CreateUser(f.ctx, nu, audit.Event{Action: audit.UserCreated, TargetType: "user"}, func(accounts.User) []accounts.Job { return nil })
	if err != nil {
		f.t.Fatal(err)
	}
	if status == accounts.StatusLocked || status == accounts.StatusDisabled {
		f.exec(`UPDATE users SET status = $2 WHERE id = $1`, u.ID, status)
		u.Status = status
	}
	return u
}

// team creates a team with members.
func (f *storeFixture) team(name string, members ...accounts.User) int64 {
	f.t.Helper()
	id, err := postgres.EnsureTeam(f.ctx, f.pool, name, "Medi-Cal")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, m := range members {
		if err := postgres.AddTeamMember(f.ctx, f.pool, id, m.ID); err != nil {
			f.t.Fatal(err)
		}
	}
	return id
}

// The viewers the web layer makes of a provider, a representative and an
// admin (who sees threads only under an emergency grant).
func asProvider(u accounts.User) messaging.Viewer {
	return messaging.Viewer{UserID: u.ID, IP: "192.0.2.1"}
}

func asStaff(u accounts.User) messaging.Viewer {
	return messaging.Viewer{UserID: u.ID, Staff: true, IP: "192.0.2.2"}
}

func asEmergency(u accounts.User) messaging.Viewer {
	return messaging.Viewer{UserID: u.ID, Emergency: true, IP: "192.0.2.3"}
}

// threadToProvider starts a thread from a representative to a provider,
// with files attached to its first message.
func (f *storeFixture) threadToProvider(from, to accounts.User, subject string, files ...string) string {
	f.t.Helper()
	id, err := f.messages.StartThreadToProvider(f.ctx, asStaff(from), to.Email, subject, messaging.NewMessage{Body: "body of " + subject, Files: storeUploads(files...)})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// threadToTeam starts a thread from a provider to a team.
func (f *storeFixture) threadToTeam(from accounts.User, teamID int64, subject string, files ...string) string {
	f.t.Helper()
	id, err := f.messages.StartThreadFromProvider(f.ctx, asProvider(from), fmt.Sprintf("team:%d", teamID), subject,
		messaging.NewMessage{Body: "body of " + subject, Files: storeUploads(files...)})
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

func (f *storeFixture) reply(v messaging.Viewer, threadID, body string) {
	f.t.Helper()
	if err := f.messages.Reply(f.ctx, v, threadID, messaging.NewMessage{Body: body}); err != nil {
		f.t.Fatal(err)
	}
}

// read opens a thread as v, failing the test on any error.
func (f *storeFixture) read(v messaging.Viewer, threadID string) messaging.Thread {
	f.t.Helper()
	th, err := f.messages.Thread(f.ctx, v, threadID)
	if err != nil {
		f.t.Fatal(err)
	}
	return th
}

// inbox is every thread of v's inbox (one large page), by id.
func (f *storeFixture) inbox(v messaging.Viewer, filter messaging.Filter) map[string]messaging.ThreadSummary {
	f.t.Helper()
	list, _, err := f.messages.Inbox(f.ctx, v, messaging.Page{Filter: filter, Limit: 1000})
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]messaging.ThreadSummary{}
	for _, s := range list {
		out[s.ID] = s
	}
	return out
}

// messageIDs are a thread's message ids, oldest first, and attachmentIDs
// its attachments' ids, read from the tables directly (not through a scope).
func (f *storeFixture) messageIDs(threadID string) []string {
	return f.column(`SELECT id::text FROM messages WHERE thread_id = $1 ORDER BY created_at, id`, threadID)
}

func (f *storeFixture) attachmentIDs(threadID string) []string {
	return f.column(`SELECT a.id::text FROM attachments a JOIN messages m ON m.id = a.message_id
		WHERE m.thread_id = $1 ORDER BY m.created_at, a.position`, threadID)
}

func (f *storeFixture) column(sql string, args ...any) []string {
	f.t.Helper()
	rows, err := f.pool.Query(f.ctx, sql, args...)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// count runs a SELECT count(*) (or any single integer).
func (f *storeFixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, sql, args...).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *storeFixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatal(err)
	}
}

func (f *storeFixture) audits(action audit.Action) int {
	f.t.Helper()
	return f.count(`SELECT count(*) FROM audit_events WHERE action = $1`, string(action))
}

// setActivity moves a thread's last activity, for tests of inbox order.
func (f *storeFixture) setActivity(threadID string, at time.Time) {
	f.t.Helper()
	f.exec(`UPDATE threads SET last_message_at = $2 WHERE id = $1`, threadID, at)
}

// fileList is messaging.Uploads over in-memory files.
type fileList []messaging.Upload

func (l *fileList) Next() (messaging.Upload, error) {
	if len(*l) == 0 {
		return messaging.Upload{}, io.EOF
	}
	u := (*l)[0]
	*l = (*l)[1:]
	return u, nil
}

// storeUploads makes one small text file per name; nil when there are none.
func storeUploads(names ...string) messaging.Uploads {
	if len(names) == 0 {
		return nil
	}
	l := fileList{}
	for _, n := range names {
		l = append(l, messaging.Upload{Name: n, Body: strings.NewReader("contents of " + n)})
	}
	return &l
}

// wantStoreErr fails unless err is (or wraps) want; want nil means no error.
func wantStoreErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Errorf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}
