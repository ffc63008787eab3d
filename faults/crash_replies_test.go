package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
)

const (
	// stormProviders each have stormThreadsEach threads from the
	// representative; every thread gets one reply with one attachment.
	stormProviders   = 10
	stormThreadsEach = 20
	stormReplies     = stormProviders * stormThreadsEach
	// stormWorkers post the replies concurrently, each as its provider,
	// one after another.
	stormWorkers = 40
	// stormKillAt: the portal is killed once this many replies have been
	// acknowledged (303); the others are in flight or not yet sent.
	stormKillAt = stormReplies / 2
)

// stormReply is one reply of the storm: what was sent and what came back.
type stormReply struct {
	provider int
	thread   string
	body     string
	name     string
	data     []byte

	started  time.Time // zero: never sent
	answered time.Time // when the answer (or the transport error) came
	status   int
	err      error
}

// kill -9 while 200 replies with attachments (64-256 KiB each) are posted
// by 40 concurrent clients: after a restart every reply acknowledged (303)
// is there once and its file decrypts to the bytes sent; no reply is
// half-stored (a message without its file, a file without all its chunks, a
// data key without its record or a record without its key, a message
// without its notification job), neither in the state the crash left nor
// after the restart; every stored message's notification arrives exactly
// once; and the upload spool (PORTAL_UPLOAD_DIR) holds nothing readable.
func TestCrashWithRepliesInFlight(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	go portalBinary() // built while the data is prepared
	dbURL := pgtest.New(t)
	keyring, kr := newKeyring(t)
	sink := startSink(t, 4*stormReplies)
	spoolDir := t.TempDir()
	env := map[string]string{
		"PORTAL_DATABASE_URL":     dbURL,
		"PORTAL_KEYRING":          keyring,
		"PORTAL_SMTP_URL":         "smtp://" + sink.Addr() + "?tls=none",
		"PORTAL_MAIL_FROM":        "Secure Messaging <no-reply@portal.example>",
		"PORTAL_ORG_NAME":         "Health Net",
		"PORTAL_JOB_RESCUE_AFTER": rescueAfter,
		"PORTAL_UPLOAD_DIR":       spoolDir,
	}
	// The test's own connections are named, to tell them from the portal's.
	poolURL, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	q := poolURL.Query()
	q.Set("application_name", stormTestConns)
	poolURL.RawQuery = q.Encode()
	pool := pgtest.NewPoolFor(t, poolURL.String())
	svc := services(t, env, pool, kr)

	// The representative writes to each provider in stormThreadsEach
	// threads (in this process, through the portal's services).
	staff := activeUser(t, svc, "rep@plan.example", "Rita Rep", accounts.RoleStaff)
	asStaff := messaging.Viewer{UserID: staff.ID, Staff: true, IP: "192.0.2.1"}
	providers := make([]accounts.User, stormProviders)
	for i := range providers {
		if providers[i], err = svc.Accounts.CreateUser(ctx, fmt.Sprintf("doc%02d@clinic%02d.example", i, i), fmt.Sprintf("Dr Storm %02d", i),
			accounts.RoleProvider, password, 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	replies := make([]*stormReply, 0, stormReplies)
	var sentBytes int64
	for p := range providers {
		for j := range stormThreadsEach {
			id, err := svc.Messages.StartToProvider(ctx, asStaff, providers[p].Email, fmt.Sprintf("Claim %02d-%02d", p, j), "Please send the records.", 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			size := 64<<10 + mrand.IntN(192<<10+1)
			if len(replies)%10 == 0 {
				size = 128 << 10 // a whole number of 64 KiB segments
			}
			data := make([]byte, size)
			rand.Read(data)
			data[0] = 0 // never a program's magic bytes (refused)
			replies = append(replies, &stormReply{provider: p, thread: id, data: data,
				body: fmt.Sprintf("Records for claim %02d-%02d (%s).", p, j, rand.Text()[:10]),
				name: fmt.Sprintf("records-%02d-%02d.bin", p, j)})
			sentBytes += int64(size)
		}
	}

	first := startPortal(t, env)
	// The providers' notifications of the threads go out first.
	if !waitFor(ctx, 60*time.Second, func() bool {
		return len(sink.Messages()) >= stormReplies && stormUnfinishedNotifications(t, pool) == 0
	}) {
		t.Fatalf("only %d of %d thread notifications after 60 s", len(sink.Messages()), stormReplies)
	}
	clients := make([]*http.Client, stormProviders)
	for p := range clients {
		clients[p] = signIn(t, first.addr, providers[p].Email)
		clients[p].Transport = &http.Transport{MaxIdleConnsPerHost: stormWorkers / stormProviders}
	}

	// The spool is watched while the storm runs: its directory (a spooled
	// file must have no name) and the portal's open files (spooled uploads
	// are there, as deleted files).
	stopWatch := make(chan struct{})
	var watch stormSpoolWatch
	var watchDone sync.WaitGroup
	watchDone.Go(func() { watch.run(first.cmd.Process.Pid, spoolDir, stopWatch) })

	var (
		mu        sync.Mutex
		acked     int
		killed    atomic.Bool
		killNow   = make(chan struct{})
		workers   sync.WaitGroup
		perWorker = stormReplies / stormWorkers
	)
	stormStart := time.Now()
	for w := range stormWorkers {
		p := w % stormProviders
		mine := replies[p*stormThreadsEach+(w/stormProviders)*perWorker:][:perWorker]
		workers.Go(func() {
			for _, r := range mine {
				if killed.Load() {
					return
				}
				started := time.Now()
				status, err := stormPost(clients[p], first.addr, r)
				mu.Lock()
				r.started, r.answered, r.status, r.err = started, time.Now(), status, err
				if status == http.StatusSeeOther {
					acked++
					if acked == stormKillAt {
						close(killNow)
					}
				}
				mu.Unlock()
				if status != http.StatusSeeOther {
					return
				}
			}
		})
	}
	select {
	case <-killNow:
	case <-time.After(90 * time.Second):
		mu.Lock()
		n := acked
		mu.Unlock()
		t.Fatalf("only %d replies acknowledged after 90 s:\n%s", n, first.logText())
	}
	openAtKill, namedAtKill := stormSpoolFDs(first.cmd.Process.Pid, spoolDir)
	sessionsBefore := stormPortalSessions(t, pool)
	killing := time.Now()
	killed.Store(true)
	first.kill()
	killedAt := time.Now()
	sessionsAtKill := stormPortalSessions(t, pool)
	close(stopWatch)
	watchDone.Wait()
	workers.Wait()

	// What the clients saw.
	var acknowledged, inFlight, refused, notSent, unexpected int
	for _, r := range replies {
		switch {
		case r.started.IsZero():
			notSent++
		case r.status == http.StatusSeeOther:
			acknowledged++
		case r.err != nil && !r.answered.Before(killing):
			// An answer cut off by the kill: sent while the portal ran
			// (in flight), or just after (refused).
			if r.started.Before(killedAt) {
				inFlight++
			} else {
				refused++
			}
		default:
			unexpected++
			t.Errorf("reply to thread %s: status %d, err %v (before the kill)", r.thread, r.status, r.err)
		}
	}

	// The state the crash left, before anything runs again: the spool and
	// the database, once the killed portal's database sessions have ended
	// (a COMMIT it sent just before dying still takes effect).
	leftAtKill, readableAtKill := stormSpoolLeft(t, spoolDir)
	if !waitFor(ctx, 15*time.Second, func() bool { return stormPortalSessions(t, pool) == 0 }) {
		t.Fatalf("%d database sessions of the killed portal still open 15 s after the kill", stormPortalSessions(t, pool))
	}
	sessionsGone := time.Since(killedAt)
	var runningAtKill int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND state = 'running'`).Scan(&runningAtKill); err != nil {
		t.Fatal(err)
	}
	crashState := stormCheckStored(t, pool)
	for _, p := range crashState.problems {
		t.Errorf("half-stored after the kill: %s", p)
	}

	second := startPortal(t, env)
	servingAfter := time.Since(killedAt)

	// Every reply is there once or not at all; acknowledged ones must be.
	// Files are read back through the restarted portal, with the sessions
	// signed in before the crash.
	var found, lost, duplicates, strangers, storedUnacked, wrongFiles int
	var readBack int64
	stored := map[string]bool{} // threads with their reply stored
	for p, u := range providers {
		asProvider := messaging.Viewer{UserID: u.ID, IP: "192.0.2.2"}
		for _, r := range replies[p*stormThreadsEach:][:stormThreadsEach] {
			th, err := svc.Messages.Thread(ctx, asProvider, r.thread)
			if err != nil {
				t.Fatal(err)
			}
			var copies []messaging.Message
			for i, m := range th.Messages {
				switch {
				case i == 0 && !m.FromProvider && m.Body == "Please send the records.":
				case m.Body == r.body:
					copies = append(copies, m)
				default:
					strangers++
					t.Errorf("thread %s: a message nobody sent: %q", r.thread, m.Body)
				}
			}
			acked := r.status == http.StatusSeeOther
			switch {
			case len(copies) > 1:
				duplicates += len(copies) - 1
				t.Errorf("reply to thread %s stored %d times", r.thread, len(copies))
			case len(copies) == 0 && acked:
				lost++
				t.Errorf("reply to thread %s acknowledged (303) before the kill, not there after the restart", r.thread)
			}
			if len(copies) == 0 {
				continue
			}
			stored[r.thread] = true
			if acked {
				found++
			} else {
				storedUnacked++
			}
			m := copies[0]
			if len(m.Attachments) != 1 || m.Attachments[0].Name != r.name || m.Attachments[0].Size != int64(len(r.data)) {
				wrongFiles++
				t.Errorf("reply to thread %s: attachments %+v, want %s of %d bytes", r.thread, m.Attachments, r.name, len(r.data))
				continue
			}
			back, status := stormDownload(t, clients[p], second.addr, m.Attachments[0].ID)
			if status != http.StatusOK || !bytes.Equal(back, r.data) {
				wrongFiles++
				t.Errorf("attachment of the reply to thread %s read back: status %d, %d bytes (equal %v), want the %d bytes sent",
					r.thread, status, len(back), bytes.Equal(back, r.data), len(r.data))
				continue
			}
			readBack += int64(len(back))
		}
	}
	recovered := time.Since(killedAt)

	// Notifications: one per thread to its provider (sent before the
	// storm), one per stored reply to the representative; each exactly
	// once, however the kill cut the jobs.
	want := map[string]bool{}
	for _, r := range replies {
		want[providers[r.provider].Email+" "+r.thread] = true
		if stored[r.thread] {
			want[staff.Email+" "+r.thread] = true
		}
	}
	settled := func() bool {
		return stormUnfinishedNotifications(t, pool) == 0 && len(sink.Messages()) >= len(want)
	}
	if !waitFor(ctx, 90*time.Second, settled) {
		t.Fatalf("notifications not settled 90 s after the kill: %d of %d at the sink, %d jobs unfinished\n%s",
			len(sink.Messages()), len(want), stormUnfinishedNotifications(t, pool), second.logText())
	}
	notified := time.Since(killedAt)
	time.Sleep(time.Second) // a late second copy would arrive now

	// Count at the sink by recipient and thread, and by Message-ID.
	ids := map[string]map[string]int{}
	var unknownMail int
	for _, m := range sink.Messages() {
		thread := ""
		for _, l := range m.Links() {
			if i := strings.LastIndex(l, "/threads/"); i >= 0 {
				thread, _, _ = strings.Cut(l[i+len("/threads/"):], "?")
				break
			}
		}
		if len(m.To) != 1 || thread == "" {
			unknownMail++
			t.Errorf("mail to %v with no thread link (subject %q)", m.To, m.Subject)
			continue
		}
		k := m.To[0] + " " + thread
		if ids[k] == nil {
			ids[k] = map[string]int{}
		}
		ids[k][headerOf(m.Raw, "Message-ID")]++
	}
	var delivered, mailDuplicates, mailLost, sameIDCopies int
	for k, byID := range ids {
		if !want[k] {
			unknownMail++
			t.Errorf("notification nobody is owed: %s", k)
			continue
		}
		delivered++
		mailDuplicates += len(byID) - 1 // copies a receiver cannot tell apart from new mail
		for id, n := range byID {
			sameIDCopies += n - 1 // copies with one Message-ID: a receiver drops them
			if n > 1 {
				t.Logf("notification %s arrived %d times with the same Message-ID %s", k, n, id)
			}
		}
	}
	for k := range want {
		if ids[k] == nil {
			mailLost++
			t.Errorf("notification lost: %s", k)
		}
	}
	if mailDuplicates != 0 || unknownMail != 0 {
		t.Errorf("notifications: %d duplicates with a new Message-ID, %d nobody was owed", mailDuplicates, unknownMail)
	}
	// The one window the design leaves (the sink's 250 to the portal's
	// record of it) can only hold jobs that were running at the kill.
	if sameIDCopies > runningAtKill {
		t.Errorf("%d notifications arrived twice with the same Message-ID, but only %d jobs were running at the kill", sameIDCopies, runningAtKill)
	}

	final := stormCheckStored(t, pool)
	for _, p := range final.problems {
		t.Errorf("half-stored after the restart: %s", p)
	}
	leftAfter, readableAfter := stormSpoolLeft(t, spoolDir)
	if readableAtKill != 0 || readableAfter != 0 || watch.named != 0 {
		t.Errorf("spool: %d files with content left after the kill, %d after the restart; %d spooled files seen with a name while uploads ran",
			readableAtKill, readableAfter, watch.named)
	}
	if watch.maxOpen == 0 && openAtKill == 0 {
		t.Errorf("no spooled upload seen open in %s: is PORTAL_UPLOAD_DIR used?", spoolDir)
	}
	if acknowledged < stormKillAt || lost != 0 || duplicates != 0 || strangers != 0 || wrongFiles != 0 || found != acknowledged {
		t.Errorf("acknowledged %d, found %d, lost %d, duplicates %d, strangers %d, wrong files %d", acknowledged, found, lost, duplicates, strangers, wrongFiles)
	}

	t.Logf("acknowledged %d, found %d, half-stored %d, duplicates %d (replies %d, notifications %d), lost %d (replies %d, notifications %d), "+
		"spool files left %d (%d with content), seconds to recover %.1f",
		acknowledged, found, len(crashState.problems)+len(final.problems), duplicates+mailDuplicates, duplicates, mailDuplicates,
		lost+mailLost, lost, mailLost, leftAfter, readableAfter, recovered.Seconds())
	t.Logf("storm: %d replies (%.1f MiB of attachments, 64-256 KiB each) from %d concurrent clients as %d providers; killed %.1f s in, "+
		"at %d acknowledged: %d in flight (cut by the kill), %d refused after it, %d not yet sent, %d unexpected answers before it",
		stormReplies, float64(sentBytes)/(1<<20), stormWorkers, stormProviders, killedAt.Sub(stormStart).Seconds(),
		acknowledged, inFlight, refused, notSent, unexpected)
	t.Logf("after the restart: %d acknowledged replies found once, each file read back through the portal's download (%.1f MiB) equal to the bytes sent; "+
		"%d in-flight replies committed before the kill (present, whole), %d absent; %d strangers",
		found, float64(readBack)/(1<<20), storedUnacked, inFlight+refused-storedUnacked, strangers)
	t.Logf("database as the crash left it (the killed portal had %d database sessions, %d of them still there at the kill, all gone %.0f ms after it): %d messages, %d attachments, %d data keys, %d chunks: %d half-stored; after the restart %d messages, %d attachments, %d data keys, %d chunks: %d half-stored",
		sessionsBefore, sessionsAtKill, float64(sessionsGone.Microseconds())/1000,
		crashState.messages, crashState.attachments, crashState.keys, crashState.chunks, len(crashState.problems),
		final.messages, final.attachments, final.keys, final.chunks, len(final.problems))
	t.Logf("notifications: owed %d (%d to providers for the threads, %d to the representative for stored replies), delivered %d, duplicates %d, lost %d, "+
		"same-Message-ID copies %d (%d jobs running at the kill)",
		len(want), stormReplies, len(stored), delivered, mailDuplicates, mailLost, sameIDCopies, runningAtKill)
	t.Logf("spool (%s): up to %d spooled uploads open at once during the storm (%d at the kill, %d of them with a name), %d seen with a name and content; "+
		"files left: %d after the kill, %d after the restart, %d of them with content (an empty file left was between its creation and its unlink at the kill)",
		spoolDir, watch.maxOpen, openAtKill, namedAtKill, watch.named, leftAtKill, leftAfter, readableAtKill+readableAfter)
	t.Logf("recovery: portal serving %.1f s after the kill, acknowledged replies verified after %.1f s, notifications settled after %.1f s (PORTAL_JOB_RESCUE_AFTER=%s)",
		servingAfter.Seconds(), recovered.Seconds(), notified.Seconds(), rescueAfter)
	second.stop()
	t.Logf("whole test %.1f s", time.Since(start).Seconds())
}

// stormPost posts r as the thread page's reply form does; a transport error
// is returned, not fatal (the portal may be killed mid-request).
func stormPost(c *http.Client, addr string, r *stormReply) (int, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("body", r.body)
	fw, err := mw.CreateFormFile("attachments", r.name)
	if err != nil {
		return 0, err
	}
	fw.Write(r.data)
	mw.Close()
	res, err := c.Post("http://"+addr+"/threads/"+r.thread+"/reply", mw.FormDataContentType(), &buf)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// stormDownload fetches an attachment through the portal.
func stormDownload(t *testing.T, c *http.Client, addr, id string) ([]byte, int) {
	t.Helper()
	res, err := c.Get("http://" + addr + "/attachments/" + id)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	return b, res.StatusCode
}

// stormTestConns is the application_name of the test's own connections.
const stormTestConns = "faults-crash-replies"

// stormPortalSessions counts the database sessions that are not the
// test's: the portal's.
func stormPortalSessions(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND backend_type = 'client backend' AND application_name <> $1`, stormTestConns).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func stormUnfinishedNotifications(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND state <> 'completed'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// stormStored is what the messaging tables hold, and every way they are
// not whole.
type stormStored struct {
	messages, attachments, keys, chunks int
	problems                            []string
}

// stormCheckStored looks for anything half-stored, straight in the
// database: a message whose attachments are not those its send recorded (in
// the same transaction) in the audit log, a provider's reply without its one
// file, a file whose chunks do not make up its size, a data key no record
// owns, a record whose data key is missing, a thread without a message, a
// message without its notification job or a job without its message.
func stormCheckStored(t *testing.T, pool *pgxpool.Pool) stormStored {
	t.Helper()
	ctx := context.Background()
	var s stormStored
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM attachments),
		(SELECT count(*) FROM data_keys), (SELECT count(*) FROM data_chunks)`).Scan(&s.messages, &s.attachments, &s.keys, &s.chunks); err != nil {
		t.Fatal(err)
	}
	list := func(what, query string) {
		rows, err := pool.Query(ctx, query)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer rows.Close()
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			s.problems = append(s.problems, fmt.Sprintf("%s: %v", what, vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	list("message whose attachments differ from its message.sent audit event (id, files, bytes, events, audited files, audited bytes)", `
		SELECT m.id::text, coalesce(a.n, 0), coalesce(a.bytes, 0)::text, coalesce(e.events, 0), e.detail->>'attachments', e.detail->>'attachment_bytes'
		FROM messages m
		LEFT JOIN (SELECT message_id, count(*) AS n, sum(size) AS bytes FROM attachments GROUP BY message_id) a ON a.message_id = m.id
		LEFT JOIN LATERAL (SELECT count(*) OVER () AS events, detail FROM audit_events
			WHERE action = 'message.sent' AND target_type = 'message' AND target_id = m.id::text LIMIT 1) e ON true
		WHERE coalesce(e.events, 0) <> 1
			OR coalesce(a.n, 0) <> (e.detail->>'attachments')::bigint
			OR coalesce(a.bytes, 0) <> (e.detail->>'attachment_bytes')::bigint`)
	list("provider's reply without exactly one attachment (id, attachments)", `
		SELECT m.id::text, count(a.id) FROM messages m JOIN users u ON u.id = m.sender_id
		LEFT JOIN attachments a ON a.message_id = m.id
		WHERE u.role = 'provider' GROUP BY m.id HAVING count(a.id) <> 1`)
	list("thread without a message", `SELECT t.id::text FROM threads t WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = t.id)`)
	list("data key no record owns (id, owner kind, owner id)", `
		SELECT k.id::text, k.owner_kind, k.owner_id FROM data_keys k WHERE NOT CASE k.owner_kind
			WHEN 'thread-subject' THEN EXISTS (SELECT 1 FROM threads t WHERE t.subject_key = k.id AND t.id::text = k.owner_id)
			WHEN 'message-body' THEN EXISTS (SELECT 1 FROM messages m WHERE m.body_key = k.id AND m.id::text = k.owner_id)
			WHEN 'attachment-name' THEN EXISTS (SELECT 1 FROM attachments a WHERE a.name_key = k.id AND a.id::text = k.owner_id)
			WHEN 'attachment-data' THEN EXISTS (SELECT 1 FROM attachments a WHERE a.data_key = k.id AND a.id::text = k.owner_id)
			WHEN 'thread-note' THEN EXISTS (SELECT 1 FROM thread_notes n WHERE n.body_key = k.id AND n.id::text = k.owner_id)
			WHEN 'totp-secret' THEN EXISTS (SELECT 1 FROM totp_secrets s WHERE s.data_key_id = k.id AND s.id::text = k.owner_id)
			-- The search index's key belongs to the deployment, not a record.
			WHEN 'search-key' THEN k.owner_id = 'v1'
			ELSE false END`)
	list("record whose data key is missing (record, id)", `
		SELECT 'thread subject', id::text FROM threads t WHERE NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.id = t.subject_key)
		UNION ALL SELECT 'message body', id::text FROM messages m WHERE NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.id = m.body_key)
		UNION ALL SELECT 'attachment name', id::text FROM attachments a WHERE NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.id = a.name_key)
		UNION ALL SELECT 'attachment data', id::text FROM attachments a WHERE NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.id = a.data_key)`)
	list("message without its notification job", `
		SELECT m.id::text FROM messages m WHERE NOT EXISTS (SELECT 1 FROM river_job j
			WHERE j.kind = 'message_notification' AND j.args->>'message_id' = m.id::text)`)
	list("notification job without its message (job id, message id)", `
		SELECT j.id, j.args->>'message_id' FROM river_job j WHERE j.kind = 'message_notification'
			AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id::text = j.args->>'message_id')`)

	// Chunks: seq 0 is the stream header, then one row per 64 KiB segment
	// (one, possibly empty, for an empty file), as many bytes as the
	// stream format gives for the size.
	rows, err := pool.Query(ctx, `SELECT a.id::text, a.size, count(c.seq), coalesce(max(c.seq), -1), coalesce(sum(octet_length(c.ct)), 0)
		FROM attachments a LEFT JOIN data_chunks c ON c.data_key_id = a.data_key GROUP BY a.id, a.size`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var size, n, maxSeq, ctBytes int64
		if err := rows.Scan(&id, &size, &n, &maxSeq, &ctBytes); err != nil {
			t.Fatal(err)
		}
		segments := max(1, (size+envelope.SegmentSize-1)/envelope.SegmentSize)
		if n != 1+segments || maxSeq != segments || ctBytes != envelope.StreamCiphertextSize(size) {
			s.problems = append(s.problems, fmt.Sprintf("attachment %s of %d bytes has %d chunks (last seq %d, %d bytes of ciphertext), want %d chunks, %d bytes",
				id, size, n, maxSeq, ctBytes, 1+segments, envelope.StreamCiphertextSize(size)))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return s
}

// stormSpoolWatch samples the spool while uploads run.
type stormSpoolWatch struct {
	maxOpen int // most spooled uploads the portal held open at once
	named   int // samples where a spool file had a name and content
}

func (w *stormSpoolWatch) run(pid int, dir string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
		open, _ := stormSpoolFDs(pid, dir)
		w.maxOpen = max(w.maxOpen, open)
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			// Between CreateTemp and the unlink that follows it a file has
			// a name but no content yet; content under a name is a leak.
			if fi, err := e.Info(); err == nil && fi.Size() > 0 {
				w.named++
			}
		}
	}
}

// stormSpoolFDs counts the files under dir that process pid holds open
// (spooled uploads), and those of them that still have a name (not
// "... (deleted)": only between their creation and the unlink after it).
func stormSpoolFDs(pid int, dir string) (open, named int) {
	fds, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, fd := range fds {
		target, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + fd.Name())
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			open++
			if !strings.HasSuffix(target, " (deleted)") {
				named++
			}
		}
	}
	return open, named
}

// stormSpoolLeft counts the files in the spool directory and those with
// content (which would be readable: the spool promises none, since each
// file is unlinked as soon as it is created).
func stormSpoolLeft(t *testing.T, dir string) (left, withContent int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		left++
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 0 {
			withContent++
			t.Errorf("spool: %s left behind with %d bytes", e.Name(), fi.Size())
		}
	}
	return left, withContent
}
