package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
)

const (
	// outageFor is how long the database stays stopped.
	outageFor = 10 * time.Second
	// outageWorkers read the inbox and reply, each in a loop, throughout.
	outageWorkers = 4
	// recoverWithin: once PostgreSQL accepts connections again, the portal
	// must serve again by itself within this.
	recoverWithin = 5 * time.Second
	// busyWithin: no answer while the database is down may take longer (a
	// request waiting for a database that is not there is a hang).
	busyWithin = 3 * time.Second
)

// pg_ctl stop -m fast in the middle of traffic, for 10 s, then start: while
// the database is down every signed-in page answers the portal's own 503
// page with Retry-After at once (no 500, no hang) and /readyz says why; once
// it is back the portal serves again by itself within 5 s, every reply
// acknowledged (303) is there, and River's workers take up jobs again.
func TestDatabaseOutageAnswersBusyThenRecoversAlone(t *testing.T) {
	ctx := context.Background()
	begin := time.Now()
	go portalBinary() // built while the cluster is made
	cluster := startThrowawayCluster(t)
	dbURL := cluster.createDatabase("portal")
	keyring, kr := newKeyring(t)
	sink := startSink(t, 5000)
	env := map[string]string{
		"PORTAL_DATABASE_URL": dbURL,
		"PORTAL_KEYRING":      keyring,
		"PORTAL_SMTP_URL":     "smtp://" + sink.Addr() + "?tls=none",
		"PORTAL_MAIL_FROM":    "Secure Messaging <no-reply@portal.example>",
		"PORTAL_ORG_NAME":     "Health Net",
	}
	site := startPortal(t, env) // migrates the empty database first

	pool := pgtest.NewPoolFor(t, dbURL)
	svc := services(t, env, pool, kr)
	staff := activeUser(t, svc, "rep@plan.example", "Rita Rep", accounts.RoleStaff)
	doc := activeUser(t, svc, "doc@clinic.example", "Dr Doc", accounts.RoleProvider)
	asStaff := messaging.Viewer{UserID: staff.ID, Staff: true, IP: "192.0.2.1"}
	threadID, err := svc.Messages.StartToProvider(ctx, asStaff, doc.Email, "Prior authorisation", "Please send the scan.", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := signIn(t, site.addr, doc.Email)
	browser.Timeout = 10 * time.Second // a request taking that long has hung
	anonymous := &http.Client{Timeout: 10 * time.Second}

	load := startOutageLoad(browser, site.addr, threadID, outageWorkers)
	defer load.finish()
	time.Sleep(2 * time.Second)
	if len(load.acknowledged()) == 0 {
		t.Fatalf("no reply acknowledged in 2 s before the outage:\n%s", site.logText())
	}

	stopping := time.Now()
	cluster.stop()
	down := time.Now()
	var readyz []timedAnswer // /readyz while the database is down
	for time.Since(down) < outageFor {
		readyz = append(readyz, timedGet(anonymous, "http://"+site.addr+"/readyz"))
		time.Sleep(250 * time.Millisecond)
	}
	starting := time.Now()
	cluster.start()
	up := time.Now()

	// Recovery, measured from the moment PostgreSQL accepts connections.
	var readyAfter, inboxAfter time.Duration
	for readyAfter == 0 || inboxAfter == 0 {
		if readyAfter == 0 && timedGet(anonymous, "http://"+site.addr+"/readyz").status == http.StatusOK {
			readyAfter = time.Since(up)
		}
		if inboxAfter == 0 && timedGet(browser, "http://"+site.addr+"/inbox").status == http.StatusOK {
			inboxAfter = time.Since(up)
		}
		if time.Since(up) > 3*recoverWithin {
			t.Fatalf("still not serving %v after the database came back (ready after %v, inbox after %v):\n%s",
				3*recoverWithin, readyAfter, inboxAfter, site.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // load on the recovered portal
	load.finish()
	reqs := load.requests()

	// What the browser saw.
	var downReqs, busy, unbranded, noRetryAfter, bare500, other, failedReqs, afterOK int
	var downMax, allMax time.Duration
	for _, r := range reqs {
		allMax = max(allMax, r.took)
		if r.status == http.StatusInternalServerError {
			bare500++
			t.Errorf("%s at %v: 500", r.kind, r.start.Sub(begin))
		}
		if r.err != nil {
			failedReqs++
			t.Errorf("%s at %v (outage %v–%v): no answer after %v: %v", r.kind, r.start.Sub(begin),
				down.Sub(begin), starting.Sub(begin), r.took, r.err)
			continue
		}
		if r.status == http.StatusServiceUnavailable {
			if !r.branded {
				unbranded++
			}
			if r.retryAfter != "5" {
				noRetryAfter++
			}
		}
		switch {
		case !r.start.Before(down) && r.start.Before(starting): // the database was down all along
			downReqs++
			downMax = max(downMax, r.took)
			if r.status == http.StatusServiceUnavailable {
				busy++
			} else {
				other++
				t.Errorf("%s while the database was down: %d, want 503", r.kind, r.status)
			}
		case !r.start.Before(up.Add(readyAfter)) && (r.status == http.StatusOK || r.status == http.StatusSeeOther):
			afterOK++
		case r.status != http.StatusOK && r.status != http.StatusSeeOther && r.status != http.StatusServiceUnavailable && r.status != http.StatusInternalServerError:
			other++
			t.Errorf("%s at %v: %d", r.kind, r.start.Sub(begin), r.status)
		}
	}
	var readyDown, readySays int
	for _, p := range readyz {
		if p.status != http.StatusOK {
			readyDown++
		}
		if p.status == http.StatusServiceUnavailable && strings.Contains(p.body, "database unreachable") {
			readySays++
		}
	}
	t.Logf("database stopped (pg_ctl stop -m fast took %.2f s) for %.1f s under %d signed-in browsers' load (GET /inbox, POST reply)",
		down.Sub(stopping).Seconds(), starting.Sub(down).Seconds(), outageWorkers)
	t.Logf("while down: %d requests, %d answered 503 (%d without the portal's busy page, %d without Retry-After: 5), %d answered 500, %d other, %d unanswered; max latency %d ms",
		downReqs, busy, unbranded, noRetryAfter, bare500, other, failedReqs, downMax.Milliseconds())
	t.Logf("/readyz while down: %d of %d answers not 200, %d of them 503 saying \"database unreachable\"", readyDown, len(readyz), readySays)
	t.Logf("after pg_ctl start (took %.2f s): /readyz 200 after %.2f s, /inbox 200 after %.2f s; %d requests answered 200/303 after that; max latency of any request %d ms",
		up.Sub(starting).Seconds(), readyAfter.Seconds(), inboxAfter.Seconds(), afterOK, allMax.Milliseconds())
	if downReqs < 20 || busy != downReqs || unbranded != 0 || noRetryAfter != 0 || downMax > busyWithin {
		t.Errorf("while down: %d requests, %d answered 503, %d 503s without the busy page, %d without Retry-After, max latency %v (want at least 20 requests, every one a 503 with its page and Retry-After within %v)",
			downReqs, busy, unbranded, noRetryAfter, downMax, busyWithin)
	}
	if bare500 != 0 || failedReqs != 0 || allMax > recoverWithin {
		t.Errorf("%d answers were 500, %d requests had no answer, the slowest took %v (want none, none, under %v)", bare500, failedReqs, allMax, recoverWithin)
	}
	if len(readyz) == 0 || readySays != len(readyz) {
		t.Errorf("/readyz while down: %d of %d answers were 503 \"database unreachable\"", readySays, len(readyz))
	}
	if readyAfter > recoverWithin || inboxAfter > recoverWithin || afterOK == 0 {
		t.Errorf("recovery: ready after %v, inbox after %v, %d successful requests after; want both within %v", readyAfter, inboxAfter, afterOK, recoverWithin)
	}
	if n := site.logged("internal error"); n != 0 {
		t.Errorf("the portal logged %d internal errors (a failure of ours, not the database's), such as:\n%s", n, site.firstLogged("internal error", 3))
	}

	// Nothing acknowledged is lost.
	th, err := svc.Messages.Thread(ctx, messaging.Viewer{UserID: doc.ID, IP: "192.0.2.2"}, threadID)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]bool{}
	for _, m := range th.Messages {
		stored[m.Body] = true
	}
	acked := load.acknowledged()
	var found int
	for _, body := range acked {
		if stored[body] {
			found++
		} else {
			t.Errorf("reply %q was acknowledged (303) but is not in the thread", body)
		}
	}
	replies := len(th.Messages) - 1
	t.Logf("replies: %d acknowledged (303), %d of them found after the outage; %d stored in all (%d answered 503 yet committed)",
		len(acked), found, replies, replies-found)

	// River works again: a notification caused after the recovery arrives,
	// and every stored reply's notification went out, once.
	caused := time.Now()
	const lateTo = "after.outage@clinic.example"
	if _, err := svc.Messages.StartToProvider(ctx, asStaff, lateTo, "After the outage", "Please call us.", 0, nil); err != nil {
		t.Fatal(err)
	}
	arrived := waitFor(ctx, 30*time.Second, func() bool { return mailsTo(sink, lateTo) > 0 })
	arrivedAfter := time.Since(caused)
	if !arrived {
		t.Fatalf("no notification to %s 30 s after it was caused (River not working again?):\n%s", lateTo, site.logText())
	}
	var unfinished int
	finished := waitFor(ctx, 30*time.Second, func() bool {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'message_notification' AND state <> 'completed'`).Scan(&unfinished); err != nil {
			t.Fatal(err)
		}
		return unfinished == 0
	})
	time.Sleep(300 * time.Millisecond) // a late second copy would arrive now
	var toStaff int
	ids := map[string]bool{}
	for _, m := range sink.Messages() {
		if slices.Contains(m.To, staff.Email) {
			toStaff++
			ids[headerOf(m.Raw, "Message-ID")] = true
		}
	}
	// An email the mail server accepted just as the database stopped cannot
	// be recorded as sent (markSent gives up after about 2 s); its job runs
	// again after the recovery and sends a copy with the same Message-ID,
	// which the receiving system drops (internal/jobs/sendonce.go).
	resent, unrecorded := toStaff-len(ids), site.distinctLogged("recording a sent email failed; retrying", "job_id")
	t.Logf("River after the recovery: a notification caused %.1f s after the database came back arrived %.2f s later; "+
		"%d replies stored, %d notifications to the representative with %d distinct Message-IDs (%d copies sent again "+
		"with the same Message-ID; %d jobs had their email accepted but could not record it as the database stopped); %d notification jobs unfinished",
		caused.Sub(up).Seconds(), arrivedAfter.Seconds(), replies, toStaff, len(ids), resent, unrecorded, unfinished)
	if !finished || len(ids) != replies || resent > unrecorded {
		t.Errorf("notifications of replies: %d sent, %d distinct, want %d (one per stored reply, copies only of unrecorded sends: %d); %d jobs unfinished",
			toStaff, len(ids), replies, unrecorded, unfinished)
	}
	site.stop()
	t.Logf("whole test %.1f s", time.Since(begin).Seconds())
}

// firstLogged is the first n log lines with message msg.
func (p *portal) firstLogged(msg string, n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range p.logs {
		if strings.Contains(l, `"msg":"`+msg+`"`) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// distinctLogged counts the distinct values of key in the log lines with
// message msg.
func (p *portal) distinctLogged(msg, key string) int {
	values := p.loggedValues(msg, key)
	slices.Sort(values)
	return len(slices.Compact(values))
}

// mailsTo counts the mails the sink holds for to.
func mailsTo(sink *mailcatcher.Server, to string) int {
	n := 0
	for _, m := range sink.Messages() {
		if slices.Contains(m.To, to) {
			n++
		}
	}
	return n
}

// timedAnswer is one request's answer.
type timedAnswer struct {
	kind       string // what was asked: "inbox", "reply"
	start      time.Time
	took       time.Duration
	status     int   // 0 when err
	err        error // no answer at all
	retryAfter string
	location   string // where a redirect leads
	branded    bool   // the portal's own "busy" page
	body       string
}

// timedGet asks for url with c.
func timedGet(c *http.Client, url string) timedAnswer {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return timedAnswer{err: err}
	}
	return timedDo(c, req, "get")
}

// timedDo sends req and records the answer.
func timedDo(c *http.Client, req *http.Request, kind string) timedAnswer {
	p := timedAnswer{kind: kind, start: time.Now()}
	res, err := c.Do(req)
	if err != nil {
		p.took, p.err = time.Since(p.start), err
		return p
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	p.took, p.err = time.Since(p.start), err
	p.status, p.retryAfter, p.location, p.body = res.StatusCode, res.Header.Get("Retry-After"), res.Header.Get("Location"), string(body)
	p.branded = strings.Contains(p.body, `data-testid="error-page"`) && strings.Contains(p.body, "The portal is busy")
	return p
}

// outageLoad is a few signed-in browser tabs, each reading the inbox and
// replying in a loop, recording every answer and every acknowledged reply.
type outageLoad struct {
	stop chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu    sync.Mutex
	reqs  []timedAnswer
	acked []string
}

func startOutageLoad(c *http.Client, addr, threadID string, workers int) *outageLoad {
	l := &outageLoad{stop: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.record(timedGet(c, "http://"+addr+"/inbox"), "inbox", "")
				body := fmt.Sprintf("Outage load reply w%d-%04d", w, n)
				var file []byte
				if n%3 == 0 { // one in three carries a file: the chunked path too
					file = bytes.Repeat([]byte(body+"\n"), 2000)
				}
				l.record(timedReply(c, addr, threadID, body, file, "notes.txt"), "reply", body)
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	return l
}

func (l *outageLoad) record(p timedAnswer, kind, reply string) {
	p.kind, p.body = kind, "" // bodies checked already (branded); not kept
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, p)
	if reply != "" && p.status == http.StatusSeeOther {
		l.acked = append(l.acked, reply)
	}
}

// finish stops the load and waits for the requests in flight.
func (l *outageLoad) finish() {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
}

func (l *outageLoad) requests() []timedAnswer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

func (l *outageLoad) acknowledged() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.acked)
}

// timedReply posts a provider's reply as the thread page's form does, with
// one file (name) when file is not nil; it fails nothing itself (it runs
// outside the test's goroutine).
func timedReply(c *http.Client, addr, threadID, body string, file []byte, name string) timedAnswer {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("body", body)
	if file != nil {
		fw, _ := mw.CreateFormFile("attachments", name)
		fw.Write(file)
	}
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/threads/"+threadID+"/reply", &buf)
	if err != nil {
		return timedAnswer{err: err}
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return timedDo(c, req, "reply")
}

// throwawayCluster is a PostgreSQL cluster of the test's own, on a free
// loopback port, that the test may stop and start: the shared test server
// must not be. It is removed when the test ends.
type throwawayCluster struct {
	t      *testing.T
	bindir string
	dir    string // owned by the server's user: data/, the socket, server.log
	port   int
	// asOwner runs a command as the cluster's owner: initdb refuses root,
	// so as root that is the postgres user.
	asOwner []string
}

// startThrowawayCluster initdbs and starts a cluster. Without PostgreSQL's
// server binaries the test is skipped, except with CI=true, where that is a
// failure: CI must never pass by testing nothing.
func startThrowawayCluster(t *testing.T) *throwawayCluster {
	t.Helper()
	bindir := postgresBinDir()
	if bindir == "" {
		const msg = "PostgreSQL's server binaries are not in /usr/lib/postgresql/*/bin (Debian: apt-get install postgresql)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI=true, so this is a failure")
		}
		t.Skip(msg)
	}
	// Not t.TempDir: its parent folder is private to this user, and as root
	// the postgres user must enter every parent folder.
	dir, err := os.MkdirTemp("", "portal-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &throwawayCluster{t: t, bindir: bindir, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and initdb refuses root: no postgres user to run the cluster as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		c.asOwner = []string{"runuser", "-u", "postgres", "--"}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("initdb in %s (every parent folder must be enterable by the cluster's user; TMPDIR moves it): %v\n%s", dir, err, out)
	}
	c.start()
	t.Cleanup(func() { c.run("pg_ctl", "-D", c.data(), "-m", "immediate", "-w", "stop") })
	return c
}

// postgresBinDir is the newest /usr/lib/postgresql/N/bin holding initdb.
func postgresBinDir() string {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	var best string
	var bestV int
	for _, f := range found {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(f))))
		if err == nil && v > bestV {
			best, bestV = filepath.Dir(f), v
		}
	}
	return best
}

func (c *throwawayCluster) data() string { return filepath.Join(c.dir, "data") }

// run runs one of the server's programs as the cluster's owner.
func (c *throwawayCluster) run(program string, args ...string) ([]byte, error) {
	argv := append(slices.Clone(c.asOwner), filepath.Join(c.bindir, program))
	cmd := exec.Command(argv[0], append(argv[1:], args...)...)
	cmd.Dir = c.dir // the owner may not enter the test's working directory
	return cmd.CombinedOutput()
}

// start starts the server and waits until it accepts connections.
func (c *throwawayCluster) start() {
	c.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", c.port, c.dir)
	if out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log"), "-w", "-t", "60", "-o", opts, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
		c.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
}

// stop stops the server as an operator would for maintenance: fast
// shutdown ends every session at once, then the server is gone.
func (c *throwawayCluster) stop() {
	c.t.Helper()
	if out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "-t", "60", "stop"); err != nil {
		c.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// url is the URL of database db on the cluster.
func (c *throwawayCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// createDatabase creates an empty database and returns its URL.
func (c *throwawayCluster) createDatabase(name string) string {
	c.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url("postgres"))
	if err != nil {
		c.t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		c.t.Fatal(err)
	}
	return c.url(name)
}
