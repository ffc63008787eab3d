package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/jobs"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/password"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/postgres"
)

// mailWorld is a migrated database with the stores the mail workers use,
// as app.New builds them, and an insert-only River client.
type mailWorld struct {
	t        *testing.T
	ctx      context.Context
	pool     *pgxpool.Pool
	store    *postgres.AccountStore
	accounts *accounts.Service
	messages *postgres.MessagingStore
	sent     *postgres.MailSent
	river    *river.Client[pgx.Tx]
	site     jobs.MailSite
	log      *slog.Logger
}

func newMailWorld(t *testing.T) *mailWorld {
	t.Helper()
	pool := pgtest.NewPool(t)
	log := slog.New(slog.DiscardHandler)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := envelope.InitKeyring(filepath.Join(t.TempDir(), "portal.keyring"))
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.NewHasher(password.DefaultParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	store := postgres.NewAccountStore(pool, client, nil)
	base, _ := url.Parse("https://portal.example")
	return &mailWorld{
		t: t, ctx: context.Background(), pool: pool, store: store,
		accounts: accounts.New(store, hasher, accounts.Settings{OrgName: "Health Net", RegistrationTTL: 72 * time.Hour, ResetTTL: 30 * time.Minute,
			LockoutThreshold: 10, LockoutDuration: time.Minute}, log, nil),
		messages: postgres.NewMessagingStore(pool, postgres.NewDataKeys(pool, kr, 16, log), client, postgres.MessagingLimits{MaxFileBytes: 1 << 20, MaxFiles: 3}),
		sent:     postgres.NewMailSent(pool),
		river:    client,
		site:     jobs.MailSite{BaseURL: base, OrgName: "Health Net", RegistrationTTL: 72 * time.Hour, ResetTTL: 30 * time.Minute},
		log:      log,
	}
}

// user creates an account; a pending one is queued its registration link.
func (w *mailWorld) user(email string, role accounts.Role, pending bool) accounts.User {
	w.t.Helper()
	nu := accounts.NewUser{Email: email, DisplayName: "Someone", Role: role}
	jobsOf := func(accounts.User) []accounts.Job { return nil }
	if pending {
		jobsOf = func(u accounts.User) []accounts.Job {
			return []accounts.Job{accounts.LinkEmail{UserID: u.ID, Purpose: accounts.PurposeRegister}}
		}
	} else {
		nu.PasswordHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"
	}
	u, err := w.store.CreateUser(w.ctx, nu, audit.Event{Action: audit.UserCreated, TargetType: "user"}, jobsOf)
	if err != nil {
		w.t.Fatal(err)
	}
	return u
}

// job is the queued job of kind (the only one), as River hands it to a
// worker on the given attempt.
func job[T river.JobArgs](w *mailWorld, attempt int) *river.Job[T] {
	w.t.Helper()
	var kind T
	row := &rivertype.JobRow{Attempt: attempt, Kind: kind.Kind()}
	var args []byte
	if err := w.pool.QueryRow(w.ctx, `SELECT id, args, created_at FROM river_job WHERE kind = $1`, row.Kind).Scan(&row.ID, &args, &row.CreatedAt); err != nil {
		w.t.Fatalf("job %s: %v", row.Kind, err)
	}
	j := &river.Job[T]{JobRow: row}
	if err := json.Unmarshal(args, &j.Args); err != nil {
		w.t.Fatal(err)
	}
	return j
}

func (w *mailWorld) count(sql string, args ...any) int {
	w.t.Helper()
	var n int
	if err := w.pool.QueryRow(w.ctx, sql, args...).Scan(&n); err != nil {
		w.t.Fatal(err)
	}
	return n
}

// fakeMailer accepts every email. With dieAfterAccept it then fails, as a
// process killed right after the server's 250 would leave the job: the
// email out (and marked), the rest of the job never done.
type fakeMailer struct {
	mu             sync.Mutex
	sent           []delivery.Email
	dieAfterAccept bool
}

var errKilled = errors.New("process killed after the mail was accepted")

func (m *fakeMailer) Send(_ context.Context, e delivery.Email) error {
	m.mu.Lock()
	m.sent = append(m.sent, e)
	die := m.dieAfterAccept
	m.mu.Unlock()
	if e.Accepted != nil {
		if err := e.Accepted(); err != nil {
			return err
		}
	}
	if die {
		return errKilled
	}
	return nil
}

func (m *fakeMailer) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sent)
}

// A notification job run again after its email was accepted (River rescues
// a job a killed process left running) sends nothing, mints no second
// registration link, and records the delivery the first run never reached.
func TestNotificationRunAgainAfterItsEmailWasAcceptedSendsNothing(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	staff := w.user("rep@plan.example", accounts.RoleStaff, false)
	if _, err := w.messages.StartThreadToProvider(w.ctx, messaging.Viewer{UserID: staff.ID, Staff: true}, "newdoc@clinic.example", "Referral",
		messaging.NewMessage{Body: "Please see the attached."}); err != nil {
		t.Fatal(err)
	}
	mailer := &fakeMailer{dieAfterAccept: true}
	worker := &jobs.NotifyWorker{Messages: w.messages, Accounts: w.accounts, Mailer: mailer, Site: w.site,
		Deliveries: postgres.NewDeliveryStore(w.pool), Sent: w.sent, Log: w.log}

	first := job[messaging.NotifyMessage](w, 1)
	if err := worker.Work(w.ctx, first); !errors.Is(err, errKilled) {
		t.Fatalf("first attempt: %v", err)
	}
	provider, err := w.accounts.UserByEmail(w.ctx, "newdoc@clinic.example")
	if err != nil {
		t.Fatal(err)
	}
	tokens := `SELECT count(*) FROM tokens WHERE user_id = $1`
	if mailer.count() != 1 || w.count(tokens, provider.ID) != 1 || w.count(`SELECT count(*) FROM message_deliveries`) != 0 {
		t.Fatalf("after the first attempt: %d emails, %d links, want 1 and 1 and no delivery record yet", mailer.count(), w.count(tokens, provider.ID))
	}

	mailer.dieAfterAccept = false
	if err := worker.Work(w.ctx, job[messaging.NotifyMessage](w, 2)); err != nil {
		t.Fatalf("rescued attempt: %v", err)
	}
	if mailer.count() != 1 {
		t.Errorf("the rescued attempt sent again: %d emails", mailer.count())
	}
	if n := w.count(tokens, provider.ID); n != 1 {
		t.Errorf("the rescued attempt minted another link (%d): the one the provider has would be void", n)
	}
	if n := w.count(`SELECT count(*) FROM message_deliveries WHERE recipient_id = $1 AND method = 'portal' AND notified`, provider.ID); n != 1 {
		t.Errorf("delivery records of the rescued job: %d, want 1 (notified, held in the portal)", n)
	}
	// A third run (say a second rescue) finds the delivery record too.
	if err := worker.Work(w.ctx, job[messaging.NotifyMessage](w, 3)); err != nil || mailer.count() != 1 {
		t.Errorf("third attempt: %v, %d emails", err, mailer.count())
	}
}

// A link email accepted before the process died is not followed by a second
// link when the job runs again: that would void the link already delivered.
func TestLinkEmailRunAgainAfterItsEmailWasAcceptedMintsNoSecondLink(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	u := w.user("invitee@clinic.example", accounts.RoleProvider, true)
	mailer := &fakeMailer{dieAfterAccept: true}
	worker := &jobs.LinkEmailWorker{AccountMail: jobs.AccountMail{Accounts: w.accounts, Mailer: mailer, Site: w.site, Sent: w.sent, Log: w.log}}
	if err := worker.Work(w.ctx, job[accounts.LinkEmail](w, 1)); !errors.Is(err, errKilled) {
		t.Fatalf("first attempt: %v", err)
	}
	mailer.dieAfterAccept = false
	if err := worker.Work(w.ctx, job[accounts.LinkEmail](w, 2)); err != nil {
		t.Fatal(err)
	}
	if mailer.count() != 1 || w.count(`SELECT count(*) FROM tokens WHERE user_id = $1`, u.ID) != 1 {
		t.Errorf("%d emails and %d links after the rescued attempt, want 1 and 1", mailer.count(), w.count(`SELECT count(*) FROM tokens WHERE user_id = $1`, u.ID))
	}
	// The link in the one email still works.
	link := mailer.sent[0].Text[strings.Index(mailer.sent[0].Text, "/register/")+len("/register/"):]
	if _, _, err := w.accounts.CheckLink(w.ctx, strings.Fields(link)[0], accounts.PurposeRegister); err != nil {
		t.Errorf("the delivered link: %v", err)
	}
}

// Through the real mailer: the email's Message-ID is derived from its job,
// the same on every attempt for a fixed email, new on every attempt for
// one with a freshly minted link; and the mark is written in the session,
// so the next run sends nothing.
func TestMessageIDFollowsTheJobAndTheMarkStopsASecondSend(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	catcher, err := mailcatcher.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer catcher.Close()
	host, port, _ := net.SplitHostPort(catcher.Addr())
	p, _ := strconv.Atoi(port)
	const from = "Secure Messaging <no-reply@Portal.Example>"
	mailer := delivery.NewSMTPMailer(&config.Config{SMTP: config.SMTP{Host: host, Port: p, TLS: "none"}, MailFrom: from}, w.log)

	u := w.user("doc@clinic.example", accounts.RoleProvider, false)
	if _, err := w.river.Insert(w.ctx, accounts.PasswordChangedEmail{UserID: u.ID}, nil); err != nil {
		t.Fatal(err)
	}
	unmarked := &jobs.PasswordChangedWorker{AccountMail: jobs.AccountMail{Accounts: w.accounts, Mailer: mailer, Site: w.site, Log: w.log}}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := unmarked.Work(w.ctx, job[accounts.PasswordChangedEmail](w, attempt)); err != nil {
			t.Fatal(err)
		}
	}
	j := job[accounts.PasswordChangedEmail](w, 1)
	want := delivery.MessageIDFor("password_changed/"+strconv.FormatInt(j.ID, 10), from)
	msgs := catcher.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2 (sent without marks)", len(msgs))
	}
	for _, m := range msgs {
		if got := messageID(t, m); got != want {
			t.Errorf("Message-ID %q, want %q (the same on every attempt)", got, want)
		}
	}
	if !strings.HasSuffix(want, "@portal.example>") || strings.Contains(want, strconv.FormatInt(j.ID, 10)+"@") {
		t.Errorf("Message-ID %q: want a hash at the portal's domain", want)
	}

	marked := &jobs.PasswordChangedWorker{AccountMail: jobs.AccountMail{Accounts: w.accounts, Mailer: mailer, Site: w.site, Sent: w.sent, Log: w.log}}
	for attempt := 3; attempt <= 4; attempt++ {
		if err := marked.Work(w.ctx, job[accounts.PasswordChangedEmail](w, attempt)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(catcher.Messages()); n != 3 {
		t.Errorf("%d messages after two marked attempts, want 3 (one more)", n)
	}

	// A link email's copies differ (each has a new link): new Message-IDs.
	catcher.Reset()
	w.user("new@clinic.example", accounts.RoleProvider, true)
	links := &jobs.LinkEmailWorker{AccountMail: jobs.AccountMail{Accounts: w.accounts, Mailer: mailer, Site: w.site, Log: w.log}}
	for attempt := 1; attempt <= 2; attempt++ {
		if err := links.Work(w.ctx, job[accounts.LinkEmail](w, attempt)); err != nil {
			t.Fatal(err)
		}
	}
	msgs = catcher.Messages()
	if len(msgs) != 2 || messageID(t, msgs[0]) == messageID(t, msgs[1]) {
		t.Errorf("link emails of two attempts: %d messages, want 2 with different Message-IDs", len(msgs))
	}
}

func messageID(t *testing.T, m mailcatcher.Message) string {
	t.Helper()
	raw := string(m.Raw)
	i := strings.Index(raw, "\nMessage-ID: ")
	if i < 0 {
		t.Fatalf("no Message-ID in %q", raw[:min(len(raw), 400)])
	}
	return strings.TrimSpace(strings.SplitN(raw[i+len("\nMessage-ID: "):], "\n", 2)[0])
}

// failingMarks cannot record anything: the database is down.
type failingMarks struct{}

func (failingMarks) SentBy(context.Context, int64) (string, bool, error) { return "", false, nil }
func (failingMarks) MarkSent(context.Context, int64, string) error {
	return errors.New("database unreachable")
}

// An email that was accepted but could not be marked fails the job loudly:
// it says the mail went out, so an operator reading the log knows a retry
// may send it again.
func TestUnrecordedSendFailsTheJobSayingTheMailWentOut(t *testing.T) {
	t.Parallel()
	w := newMailWorld(t)
	u := w.user("doc@clinic.example", accounts.RoleProvider, false)
	if _, err := w.river.Insert(w.ctx, accounts.PasswordChangedEmail{UserID: u.ID}, nil); err != nil {
		t.Fatal(err)
	}
	mailer := &fakeMailer{}
	worker := &jobs.PasswordChangedWorker{AccountMail: jobs.AccountMail{Accounts: w.accounts, Mailer: mailer, Site: w.site, Sent: failingMarks{}, Log: w.log}}
	err := worker.Work(w.ctx, job[accounts.PasswordChangedEmail](w, 1))
	if err == nil || !strings.Contains(err.Error(), "was sent but could not be recorded") {
		t.Errorf("err = %v", err)
	}
}
