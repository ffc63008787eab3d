package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/migrations"
)

const (
	// publicOrigin is where browsers see the portal: a load balancer that
	// ends TLS there and spreads requests over the instances, which listen
	// on loopback without TLS. So the session cookie is the production one,
	// __Host-session, Secure.
	publicOrigin = "https://portal.example.org"
	// jobMessages are sent to as many new providers while both instances
	// run job workers.
	jobMessages = 40
	// instanceFileBytes is each attachment's size: two 64 KiB segments.
	instanceFileBytes = 100 << 10
)

// Two `portal serve` processes started at the same moment on one empty
// database and one keyring file: both migrate it without a race and serve;
// a session signed in on one is signed in on the other; each job runs once
// though both run workers; and while `portal keys rotate` and `portal keys
// rewrap` change every data key's wrapping, the other instance reads old and
// new messages and files without one failure.
func TestTwoInstancesShareSessionsJobsAndKeys(t *testing.T) {
	ctx := context.Background()
	begin := time.Now()
	go portalBinary()
	dbURL := pgtest.NewEmpty(t) // no schema: the instances migrate it
	keyring, kr := newKeyring(t)
	sink := startSink(t, 1000)
	// Each mail waits 100 ms before it reaches the sink, so one instance's
	// eight workers cannot take every job before the other's look.
	gate := startGate(t, sink.Addr(), 100*time.Millisecond)
	env := map[string]string{
		"PORTAL_DATABASE_URL": dbURL,
		"PORTAL_KEYRING":      keyring,
		"PORTAL_BASE_URL":     publicOrigin,
		"PORTAL_SMTP_URL":     "smtp://" + gate.Addr() + "?tls=none",
		"PORTAL_MAIL_FROM":    "Secure Messaging <no-reply@portal.example>",
		"PORTAL_ORG_NAME":     "Health Net",
	}
	if _, err := portalBinary(); err != nil {
		t.Fatal(err)
	}

	// 1. Both start at once; the migrations run once, under the lock.
	launched := time.Now()
	a := launchPortal(t, env)
	b := launchPortal(t, env)
	apart := time.Since(launched)
	a.awaitListening()
	b.awaitListening()
	started := time.Since(launched)
	files, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	ownA, ownB := a.loggedValues("migration applied", "version"), b.loggedValues("migration applied", "version")
	riverA, riverB := a.loggedValues("river migration applied", "version"), b.loggedValues("river migration applied", "version")
	anonymous := &http.Client{Timeout: 10 * time.Second}
	readyA, readyB := timedGet(anonymous, "http://"+a.addr+"/readyz"), timedGet(anonymous, "http://"+b.addr+"/readyz")
	t.Logf("started together (launched %.1f ms apart) on an empty database: both listening %.2f s after launch; portal migrations applied by A %d, by B %d (of %d); River's by A %d, by B %d; /readyz A %d, B %d",
		float64(apart.Microseconds())/1000, started.Seconds(), len(ownA), len(ownB), len(files), len(riverA), len(riverB), readyA.status, readyB.status)
	if len(ownA)+len(ownB) != len(files) || len(riverA)+len(riverB) == 0 || overlap(ownA, ownB)+overlap(riverA, riverB) != 0 {
		t.Errorf("migrations: A %v, B %v, River A %v, B %v: want each of the %d applied once", ownA, ownB, riverA, riverB, len(files))
	}
	if readyA.status != http.StatusOK || readyB.status != http.StatusOK {
		t.Fatalf("/readyz: A %d, B %d", readyA.status, readyB.status)
	}

	pool := pgtest.NewPoolFor(t, dbURL)
	svc := services(t, env, pool, kr)
	staff := activeUser(t, svc, "rep@plan.example", "Rita Rep", accounts.RoleStaff)
	doc := activeUser(t, svc, "doc@clinic.example", "Dr Doc", accounts.RoleProvider)
	asStaff := messaging.Viewer{UserID: staff.ID, Staff: true, IP: "192.0.2.1"}
	hot, err := svc.Messages.StartToProvider(ctx, asStaff, doc.Email, "Prior authorisation", "Please send the scans.", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	cold, err := svc.Messages.StartToProvider(ctx, asStaff, doc.Email, "Discharge summary", "Please send the summary.", 0, nil)
	if err != nil {
		t.Fatal(err)
	}

	// 2. A session signed in on A is signed in on B.
	jarA := newOriginJar()
	onA := &http.Client{Jar: jarA, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := onA.PostForm("http://"+a.addr+"/login", url.Values{"email": {doc.Email}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	setCookie := strings.Join(res.Header.Values("Set-Cookie"), "\n")
	if res.StatusCode != http.StatusSeeOther || !regexp.MustCompile(`(?m)^__Host-session=[^;]+; Path=/; HttpOnly; Secure; SameSite=Lax`).MatchString(setCookie) {
		t.Fatalf("sign-in on A: %d, Set-Cookie:\n%s", res.StatusCode, setCookie)
	}
	jarB := newOriginJar()
	jarB.SetCookies(nil, jarA.Cookies(nil)) // what the browser sends to either instance
	onB := &http.Client{Jar: jarB, Timeout: 30 * time.Second, CheckRedirect: onA.CheckRedirect}
	inboxA, inboxB := timedGet(onA, "http://"+a.addr+"/inbox"), timedGet(onB, "http://"+b.addr+"/inbox")
	for name, p := range map[string]timedAnswer{"A": inboxA, "B": inboxB} {
		if p.status != http.StatusOK || !strings.Contains(p.body, `data-testid="inbox-page"`) || !strings.Contains(p.body, "Discharge summary") {
			t.Fatalf("inbox on %s with the session signed in on A: %d\n%.500s", name, p.status, p.body)
		}
	}
	t.Logf("session: signed in on A (Set-Cookie __Host-session, Secure, HttpOnly, SameSite=Lax); that cookie opens the inbox on A (%d) and on B (%d)",
		inboxA.status, inboxB.status)

	// 3. Each job runs once, though both instances run workers.
	want := map[string]bool{}
	for i := range jobMessages {
		to := fmt.Sprintf("newdoc%02d@clinic%02d.example", i, i)
		if _, err := svc.Messages.StartToProvider(ctx, asStaff, to, fmt.Sprintf("Referral %d", i), "Please see the patient.", 0, nil); err != nil {
			t.Fatal(err)
		}
		want[to] = true
	}
	var jobs, unfinished int
	done := waitFor(ctx, 60*time.Second, func() bool {
		if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE state <> 'completed') FROM river_job WHERE kind = 'message_notification'`).Scan(&jobs, &unfinished); err != nil {
			t.Fatal(err)
		}
		return unfinished == 0 && len(sink.Messages()) >= jobs
	})
	time.Sleep(500 * time.Millisecond) // a second copy would arrive now
	if !done {
		t.Fatalf("notifications: %d of %d jobs unfinished, %d mails after 60 s", unfinished, jobs, len(sink.Messages()))
	}
	got := map[string]int{}
	for _, m := range sink.Messages() {
		for _, to := range m.To {
			got[to]++
		}
	}
	var delivered, doubled, lost int
	for to := range want {
		switch n := got[to]; {
		case n == 0:
			lost++
		case n > 1:
			doubled += n - 1
		}
		if got[to] > 0 {
			delivered++
		}
	}
	sentA, sentB := a.logged("notification sent"), b.logged("notification sent")
	t.Logf("jobs: %d messages to new providers, %d notified, %d doubled, %d lost; notification jobs run by A %d, by B %d (%d jobs, %d mails in all)",
		jobMessages, delivered, doubled, lost, sentA, sentB, jobs, len(sink.Messages()))
	if delivered != jobMessages || doubled != 0 || lost != 0 || sentA+sentB != jobs || len(sink.Messages()) != jobs {
		t.Errorf("jobs: %d notified, %d doubled, %d lost, %d+%d runs logged, %d mails; want %d, 0, 0, %d runs and mails",
			delivered, doubled, lost, sentA, sentB, len(sink.Messages()), jobMessages, jobs)
	}
	if sentA == 0 || sentB == 0 {
		t.Errorf("one instance ran no job (A %d, B %d): the test did not show two workers sharing the queue", sentA, sentB)
	}

	// 4. Key rotation and rewrap while B reads. Before it: replies with
	// files on both threads, written through A (KEK version 1). B reads the
	// hot thread from the start (its DEKs get cached in B) and the cold one
	// only after the rewrap, so B unwraps those DEKs under a version its
	// keyring did not have when it started.
	msgs := &threadContent{files: map[string][]byte{}, bodies: map[string][]string{}}
	write := func(c *http.Client, addr, thread, tag string) error {
		name := tag + ".txt"
		data := make([]byte, instanceFileBytes)
		rand.Read(data)
		for i := range data {
			data[i] = 'a' + data[i]%26
		}
		body := "Reply " + tag
		p := timedReply(c, addr, thread, body, data, name)
		if p.err != nil || p.status != http.StatusSeeOther {
			return fmt.Errorf("reply %s: %d %v", tag, p.status, p.err)
		}
		msgs.add(thread, body, name, data)
		return nil
	}
	for i := range 4 {
		for thread, prefix := range map[string]string{hot: "hot", cold: "cold"} {
			if err := write(onA, a.addr, thread, fmt.Sprintf("%s-before-%d", prefix, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	var coldOpen atomic.Bool
	var reads, fileReads, coldReads, failures atomic.Int64
	var failMu sync.Mutex
	var failed []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(failed) < 5 {
			failed = append(failed, fmt.Sprintf(format, args...))
		}
	}
	// readThread reads a thread page and each of its files on B, checking
	// every reply and file acknowledged before it started.
	readThread := func(thread string) {
		bodies, names := msgs.known(thread)
		page := timedGet(onB, "http://"+b.addr+"/threads/"+thread)
		reads.Add(1)
		if thread == cold {
			coldReads.Add(1)
		}
		if page.err != nil || page.status != http.StatusOK {
			fail("thread %s on B: %d %v", thread, page.status, page.err)
			return
		}
		for _, body := range bodies {
			if !strings.Contains(page.body, body) {
				fail("thread %s on B lacks %q", thread, body)
			}
		}
		links := attachmentLinks(page.body)
		for _, name := range names {
			if _, ok := links[name]; !ok {
				fail("thread %s on B lacks the file %s", thread, name)
			}
		}
		for name, href := range links {
			res, err := onB.Get("http://" + b.addr + href)
			if err != nil {
				fail("file %s on B: %v", name, err)
				continue
			}
			data, err := io.ReadAll(res.Body)
			res.Body.Close()
			fileReads.Add(1)
			if thread == cold {
				coldReads.Add(1)
			}
			if res.StatusCode != http.StatusOK || err != nil || !bytes.Equal(data, msgs.file(name)) {
				fail("file %s on B: %d, %d bytes (err %v)", name, res.StatusCode, len(data), err)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 { // two readers on B
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				readThread(hot)
				if coldOpen.Load() {
					readThread(cold)
				}
			}
		})
	}
	var writes, writeFailures atomic.Int64
	wg.Go(func() { // new replies throughout, through A and B in turn
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			c, addr := onA, a.addr
			if i%2 == 1 {
				c, addr = onB, b.addr
			}
			writes.Add(1)
			if err := write(c, addr, hot, fmt.Sprintf("hot-during-%d", i)); err != nil {
				writeFailures.Add(1)
				fail("%v", err)
			}
		}
	})
	time.Sleep(1500 * time.Millisecond)
	rotated := runPortal(t, env, "keys", "rotate")
	time.Sleep(1500 * time.Millisecond)
	rewrapped := runPortal(t, env, "keys", "rewrap")
	coldOpen.Store(true)
	time.Sleep(2500 * time.Millisecond)
	close(stop)
	wg.Wait()
	var coldKeys, coldOnV2 int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE kek_version = 2) FROM data_keys WHERE thread_id = $1`, cold).Scan(&coldKeys, &coldOnV2); err != nil {
		t.Fatal(err)
	}
	status := runPortal(t, env, "keys", "status")
	t.Logf("rotation: `portal keys rotate`: %s", firstLine(rotated))
	t.Logf("rewrap: `portal keys rewrap`: %s", strings.ReplaceAll(strings.TrimSpace(rewrapped), "\n", "; "))
	t.Logf("reads on B during rotation and rewrap: %d thread pages and %d files, %d of those reads of the thread B first read after the rewrap "+
		"(its %d data keys, %d on version 2, which B's keyring did not hold when it started); %d failed; %d replies with files written meanwhile through A and B, %d failed",
		reads.Load(), fileReads.Load(), coldReads.Load(), coldKeys, coldOnV2, failures.Load(), writes.Load(), writeFailures.Load())
	// Keys made by the instances after the rewrap are still on version 1:
	// each re-reads the keyring file once a minute, hence README's "rotate,
	// wait a minute, rewrap". A second rewrap, once the writes stopped,
	// leaves none behind, and B still reads everything.
	t.Logf("keys status after the rewrap (data keys made since by the instances, whose keyring is re-read once a minute, are on version 1):\n%s", status)
	again := runPortal(t, env, "keys", "rewrap")
	var onV1 int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM data_keys WHERE kek_version = 1`).Scan(&onV1); err != nil {
		t.Fatal(err)
	}
	before := failures.Load()
	readThread(hot)
	readThread(cold)
	t.Logf("second rewrap: %s; data keys left on version 1: %d; B then reads both threads and their %d files again: %d failed",
		strings.ReplaceAll(strings.TrimSpace(again), "\n", "; "), onV1, msgs.count(), failures.Load()-before)
	if onV1 != 0 {
		t.Errorf("%d data keys on version 1 after the second rewrap", onV1)
	}
	for _, f := range failed {
		t.Error(f)
	}
	if failures.Load() != 0 || reads.Load() < 20 || coldReads.Load() == 0 || writes.Load() < 10 {
		t.Errorf("reads %d, cold reads %d, writes %d, failures %d: want many reads and writes, none failed", reads.Load(), coldReads.Load(), writes.Load(), failures.Load())
	}
	if coldOnV2 != coldKeys || coldKeys == 0 {
		t.Errorf("the cold thread's %d data keys: %d on version 2 after the rewrap, want all", coldKeys, coldOnV2)
	}

	// 5. Signing out on B ends the session on A too.
	out, err := onB.PostForm("http://"+b.addr+"/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	out.Body.Close()
	after := timedGet(onA, "http://"+a.addr+"/inbox")
	t.Logf("sign-out on B: %d; the same cookie on A then: %d to %s", out.StatusCode, after.status, after.location)
	if out.StatusCode != http.StatusSeeOther || after.status != http.StatusSeeOther || !strings.HasPrefix(after.location, "/login") {
		t.Errorf("after signing out on B, A answers %d to %q; want 303 to /login", after.status, after.location)
	}
	for name, p := range map[string]*portal{"A": a, "B": b} {
		if n := p.logged("internal error"); n != 0 {
			t.Errorf("instance %s logged %d internal errors:\n%s", name, n, p.firstLogged("internal error", 3))
		}
	}
	a.stop()
	b.stop()
	t.Logf("whole test %.1f s", time.Since(begin).Seconds())
}

// threadContent is what was acknowledged on each thread: reply bodies and
// files, the files' bytes by name.
type threadContent struct {
	mu     sync.Mutex
	bodies map[string][]string
	names  map[string][]string
	files  map[string][]byte
}

func (c *threadContent) add(thread, body, name string, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string][]string{}
	}
	c.bodies[thread] = append(c.bodies[thread], body)
	c.names[thread] = append(c.names[thread], name)
	c.files[name] = data
}

func (c *threadContent) known(thread string) (bodies, names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.bodies[thread]), slices.Clone(c.names[thread])
}

func (c *threadContent) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files)
}

func (c *threadContent) file(name string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files[name]
}

var attachmentLink = regexp.MustCompile(`<a href="(/attachments/[^"]+)"[^>]*data-testid="attachment"[^>]*>([^<]+)</a>`)

// attachmentLinks maps the file names on a thread page to their links.
func attachmentLinks(page string) map[string]string {
	out := map[string]string{}
	for _, m := range attachmentLink.FindAllStringSubmatch(page, -1) {
		out[html.UnescapeString(m[2])] = html.UnescapeString(m[1])
	}
	return out
}

// originJar keeps cookies as a browser does for publicOrigin, whichever
// instance behind the load balancer answered the request.
type originJar struct {
	origin *url.URL
	jar    *cookiejar.Jar
}

func newOriginJar() originJar {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(publicOrigin + "/")
	return originJar{origin: u, jar: jar}
}

func (j originJar) SetCookies(_ *url.URL, cs []*http.Cookie) { j.jar.SetCookies(j.origin, cs) }
func (j originJar) Cookies(*url.URL) []*http.Cookie          { return j.jar.Cookies(j.origin) }

// runPortal runs an operator command of the portal binary with env and
// returns its standard output.
func runPortal(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	bin, err := portalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("portal %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// loggedValues collects key from the log lines with message msg.
func (p *portal) loggedValues(msg, key string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.logs {
		var rec map[string]any
		if strings.Contains(l, `"msg":"`+msg+`"`) && json.Unmarshal([]byte(l), &rec) == nil {
			out = append(out, fmt.Sprint(rec[key]))
		}
	}
	return out
}

// overlap counts the values in both a and b.
func overlap(a, b []string) int {
	n := 0
	for _, v := range a {
		if slices.Contains(b, v) {
			n++
		}
	}
	return n
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
