package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/pgtest"
)

const (
	// mailWarmup messages are sent and notified before the outage: the
	// mail server works, and nothing is in flight when it goes.
	mailWarmup = 5
	// mailOutageMessages are sent by staff while the mail server is down.
	mailOutageMessages = 30
	// mailDownFor is how long the mail server stays down. River retries a
	// failed job after attempt⁴ seconds (±10 %): 1 s, 16 s, 81 s, ... A
	// notification first tried during the outage therefore fails at once
	// and again a second later, and its third attempt comes 16 s after
	// that, after the server is back: 12 s down exercises the queue and
	// the backoff, and the test still ends within seconds of the return
	// (no job reaches its fourth attempt, 81 s further on). No config knob
	// is needed for it.
	mailDownFor = 12 * time.Second
)

// The mail server goes away (connections refused) while staff send 30
// messages: sending still works, every notification is queued and retried
// with backoff; once the server is back on the same address each arrives
// exactly once, and every registration link mailed works.
func TestSMTPOutageDeliversEachNotificationOnce(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	go portalBinary()
	dbURL := pgtest.New(t)
	keyring, kr := newKeyring(t)
	// A loopback address of its own (127.x.y.z), so that no other socket
	// can take the port while the server is down.
	host := fmt.Sprintf("127.%d.%d.%d", 100+mrand.IntN(100), mrand.IntN(256), 1+mrand.IntN(254))
	before, err := mailcatcher.StartWithOptions(host+":0", mailcatcher.Options{Capacity: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	smtpAddr := before.Addr()
	env := map[string]string{
		"PORTAL_DATABASE_URL": dbURL,
		"PORTAL_KEYRING":      keyring,
		"PORTAL_SMTP_URL":     "smtp://" + smtpAddr + "?tls=none",
		"PORTAL_MAIL_FROM":    "Secure Messaging <no-reply@portal.example>",
		"PORTAL_ORG_NAME":     "Health Net",
		// The representative signs in with the password alone: setting up
		// an app would send a notice of its own, and this test counts mail.
		"PORTAL_MFA_STAFF": "optional",
	}
	pool := pgtest.NewPoolFor(t, dbURL)
	svc := services(t, env, pool, kr)
	staff := activeUser(t, svc, "rep@plan.example", "Rita Rep", accounts.RoleStaff)

	p := startPortal(t, env)
	web := signIn(t, p.addr, staff.Email)
	send := func(to string) {
		t.Helper()
		if status, err := mailOutageCompose(web, p.addr, to); err != nil || status != http.StatusSeeOther {
			t.Fatalf("staff compose to %s: status %d, err %v; want 303", to, status, err)
		}
	}

	// Before: the server works.
	for i := range mailWarmup {
		send(fmt.Sprintf("early%02d@clinic%02d.example", i, i))
	}
	if !waitFor(ctx, 30*time.Second, func() bool {
		return len(before.Messages()) >= mailWarmup && stormUnfinishedNotifications(t, pool) == 0
	}) {
		t.Fatalf("only %d of %d notifications before the outage", len(before.Messages()), mailWarmup)
	}
	var lastJob int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(id), 0) FROM river_job`).Scan(&lastJob); err != nil {
		t.Fatal(err)
	}

	// Down: connections to the server's address are refused.
	if err := before.Close(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	if c, err := net.DialTimeout("tcp", smtpAddr, time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still takes connections after the mail server closed", smtpAddr)
	}
	want := map[string]bool{}
	var slowest time.Duration
	for i := range mailOutageMessages {
		to := fmt.Sprintf("late%02d@clinic%02d.example", i, i)
		began := time.Now()
		send(to)
		slowest = max(slowest, time.Since(began))
		want[to] = true
	}
	sentIn := time.Since(down)
	// Every notification is tried, fails, and waits for its retry.
	failedOnce := func() int {
		return mailOutageJobCount(t, pool, lastJob, `state NOT IN ('completed', 'discarded', 'cancelled') AND coalesce(array_length(errors, 1), 0) >= 1`)
	}
	if !waitFor(ctx, mailDownFor-time.Since(down), func() bool { return failedOnce() == mailOutageMessages }) {
		t.Fatalf("%d of %d notifications tried and queued for a retry while the mail server was down", failedOnce(), mailOutageMessages)
	}
	time.Sleep(time.Until(down.Add(mailDownFor)))
	queued := failedOnce()
	outageJobs := mailOutageJobCount(t, pool, lastJob, `true`)
	var failuresWhileDown int
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(coalesce(array_length(errors, 1), 0)), 0) FROM river_job
		WHERE kind = 'message_notification' AND id > $1`, lastJob).Scan(&failuresWhileDown); err != nil {
		t.Fatal(err)
	}

	// Back, on the same address.
	var after *mailcatcher.Server
	if !waitFor(ctx, 5*time.Second, func() bool {
		after, err = mailcatcher.StartWithOptions(smtpAddr, mailcatcher.Options{Capacity: 1000})
		return err == nil
	}) {
		t.Fatalf("the mail server cannot listen on %s again: %v", smtpAddr, err)
	}
	defer after.Close()
	back := time.Now()
	downFor := back.Sub(down)
	if !waitFor(ctx, 60*time.Second, func() bool {
		return len(after.Messages()) >= mailOutageMessages && stormUnfinishedNotifications(t, pool) == 0
	}) {
		t.Fatalf("60 s after the mail server came back: %d of %d notifications, %d jobs unfinished\n%s",
			len(after.Messages()), mailOutageMessages, stormUnfinishedNotifications(t, pool), p.logText())
	}
	var last time.Time
	for _, m := range after.Messages() {
		if m.ReceivedAt.After(last) {
			last = m.ReceivedAt
		}
	}
	returnToLast := last.Sub(back)
	time.Sleep(time.Second) // a late second copy would arrive now

	// Count at the sink, by recipient (one message each) and Message-ID.
	got := map[string]int{}
	ids := map[string]int{}
	var strangers, early, broken int
	var links []string
	for _, m := range before.Messages() {
		for _, to := range m.To {
			if !strings.HasPrefix(to, "early") {
				strangers++
				t.Errorf("before the outage, mail to %s", to)
			}
			early++
		}
	}
	for _, m := range after.Messages() {
		for _, to := range m.To {
			got[to]++
			if !want[to] {
				strangers++
				t.Errorf("after the outage, mail to %s, who is owed none", to)
			}
		}
		ids[headerOf(m.Raw, "Message-ID")]++
		for _, l := range m.Links() {
			if strings.Contains(l, "/register/") {
				links = append(links, l)
			}
		}
	}
	var delivered, duplicates, lost, sameID int
	for to := range want {
		switch n := got[to]; {
		case n == 0:
			lost++
			t.Errorf("no notification reached %s", to)
		case n > 1:
			duplicates += n - 1
			t.Errorf("%s got %d notifications", to, n)
			fallthrough
		default:
			delivered++
		}
	}
	for id, n := range ids {
		if n > 1 {
			sameID += n - 1
			t.Errorf("Message-ID %s arrived %d times", id, n)
		}
	}
	// A link minted by a failed attempt was never mailed; the one mailed
	// (minted by the attempt that got through) works.
	for _, l := range links {
		token := l[strings.LastIndex(l, "/register/")+len("/register/"):]
		if _, _, err := svc.Accounts.CheckLink(ctx, token, accounts.PurposeRegister); err != nil {
			broken++
		}
	}

	// How River retried: attempts per job and the gaps between them.
	rows, err := pool.Query(ctx, `SELECT state, attempt,
		ARRAY(SELECT (e->>'at')::timestamptz FROM unnest(errors) AS e ORDER BY (e->>'attempt')::int), attempted_at
		FROM river_job WHERE kind = 'message_notification' AND id > $1`, lastJob)
	if err != nil {
		t.Fatal(err)
	}
	attempts := map[int]int{}
	var gaps [3][]time.Duration // 1st→2nd, 2nd→3rd, 3rd→4th attempt
	var jobs, notCompleted int
	for rows.Next() {
		var state string
		var attempt int
		var failed []time.Time
		var attemptedAt time.Time
		if err := rows.Scan(&state, &attempt, &failed, &attemptedAt); err != nil {
			t.Fatal(err)
		}
		jobs++
		if state != "completed" {
			notCompleted++
		}
		attempts[attempt]++
		tries := append(failed, attemptedAt)
		for i := 1; i < len(tries) && i <= len(gaps); i++ {
			gaps[i-1] = append(gaps[i-1], tries[i].Sub(tries[i-1]))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var histogram []string
	for _, a := range slices.Sorted(maps.Keys(attempts)) {
		histogram = append(histogram, fmt.Sprintf("%d after %d attempts", attempts[a], a))
	}
	var gapText []string
	for i, g := range gaps {
		if len(g) == 0 {
			continue
		}
		slices.Sort(g)
		gapText = append(gapText, fmt.Sprintf("attempt %d→%d: %.1f-%.1f s (median %.1f s, %d jobs)",
			i+1, i+2, g[0].Seconds(), g[len(g)-1].Seconds(), g[len(g)/2].Seconds(), len(g)))
	}

	t.Logf("queued %d, delivered %d, duplicates %d, lost %d, seconds from return to last delivery %.1f",
		queued, delivered, duplicates, lost, returnToLast.Seconds())
	t.Logf("mail server %s down %.1f s (connections refused); staff sent %d messages meanwhile, each answered 303 (slowest %.0f ms, all in %.1f s)",
		smtpAddr, downFor.Seconds(), mailOutageMessages, float64(slowest.Microseconds())/1000, sentIn.Seconds())
	t.Logf("while down: all %d of %d notifications tried and waiting for a retry, %d failed attempts in all, %d \"mail send failed\" log lines",
		queued, outageJobs, failuresWhileDown, p.logged("mail send failed"))
	t.Logf("River's retries: %s; %s", strings.Join(histogram, ", "), strings.Join(gapText, "; "))
	t.Logf("after the return: %d delivered once each, %d duplicates (%d copies with the same Message-ID), %d lost, %d to strangers; "+
		"%d registration links mailed, %d void; %d notifications before the outage, each once",
		delivered, duplicates, sameID, lost, strangers, len(links), broken, early)
	if queued != mailOutageMessages || jobs != mailOutageMessages || notCompleted != 0 {
		t.Errorf("%d notifications queued for a retry while down, %d jobs, %d not completed; want %d, %d, 0",
			queued, jobs, notCompleted, mailOutageMessages, mailOutageMessages)
	}
	if attempts[1] != 0 {
		t.Errorf("%d notifications sent at their first attempt, while the mail server was down", attempts[1])
	}
	if delivered != mailOutageMessages || duplicates != 0 || lost != 0 || sameID != 0 || strangers != 0 || early != mailWarmup {
		t.Errorf("delivered %d of %d, duplicates %d, same Message-ID %d, lost %d, strangers %d, before the outage %d of %d",
			delivered, mailOutageMessages, duplicates, sameID, lost, strangers, early, mailWarmup)
	}
	if broken != 0 || len(links) != mailOutageMessages {
		t.Errorf("%d registration links mailed, %d of them void; want %d, all working", len(links), broken, mailOutageMessages)
	}
	p.stop()
	t.Logf("whole test %.1f s", time.Since(start).Seconds())
}

// mailOutageCompose sends a new message as staff, through the compose form.
func mailOutageCompose(c *http.Client, addr, to string) (int, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("to", to)
	mw.WriteField("subject", "Referral")
	mw.WriteField("body", "Please see the patient this week.")
	mw.WriteField("expires_in", "")
	mw.Close()
	res, err := c.Post("http://"+addr+"/staff/compose", mw.FormDataContentType(), &buf)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// mailOutageJobCount counts the notification jobs after lastJob that match
// cond.
func mailOutageJobCount(t *testing.T, pool *pgxpool.Pool, lastJob int64, cond string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job
		WHERE kind = 'message_notification' AND id > $1 AND `+cond, lastJob).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
