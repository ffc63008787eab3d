package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/pgtest"
	"github.com/healthnet/secureportal/internal/testlog"
)

func TestUnknownCommandAndBadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{nil, {"frobnicate"}, {"serve", "--port=1"}, {"migrate", "extra"}, {"version", "x"}} {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%v: error %v is not a usage error (exit 2)", args, err)
			continue
		}
		if !strings.Contains(err.Error(), "Usage: portal <command>") {
			t.Errorf("%v: usage not printed: %v", args, err)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, nil, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "portal ") {
		t.Errorf("version: %q %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, nil, &out, io.Discard); err != nil || !strings.Contains(out.String(), "serve") ||
		!strings.Contains(out.String(), "portal user reset --email E") {
		t.Errorf("help: %q %v", out.String(), err)
	}
}

func TestServeRefusesBadConfigNamingTheVariable(t *testing.T) {
	env := map[string]string{"PORTAL_DATABASE_URL": "postgres://x/y", "PORTAL_SESSION_IDLE": "soon"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "PORTAL_SESSION_IDLE") {
		t.Fatalf("err = %v", err)
	}
}

// serve migrates an empty database, answers /readyz, and stops cleanly when
// its context is cancelled (SIGTERM).
func TestServeMigratesServesAndStops(t *testing.T) {
	env := map[string]string{
		"PORTAL_DATABASE_URL": pgtest.NewEmpty(t),
		"PORTAL_METRICS_ADDR": "127.0.0.1:0",
		"PORTAL_ORG_NAME":     "Health Net",
	}
	addKeyring(t, env)
	addr, logs, stop := startServe(t, env)
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("/readyz = %d", res.StatusCode)
	}
	// The operators' listener has the metrics and the profiler; the public
	// one has neither.
	metrics := loggedAddr(t, logs, "metrics listening")
	for url, want := range map[string]string{
		"http://" + metrics + "/metrics":                    "portal_http_requests_total",
		"http://" + metrics + "/debug/pprof/":               "goroutine",
		"http://" + metrics + "/debug/pprof/heap?debug=1":   "heap profile",
		"http://" + addr + "/debug/pprof/":                  "404",
		"http://" + addr + "/metrics":                       "404",
		"http://" + addr + "/debug/pprof/profile?seconds=1": "404",
	} {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := strconv.Itoa(res.StatusCode) + " " + string(body); !strings.Contains(got, want) {
			t.Errorf("GET %s: want %q in %.200s", url, want, got)
		}
	}
	stop()
	// The test server's role is a superuser: the operator is told.
	if !strings.Contains(logs.String(), "is a superuser and could rewrite the audit log") {
		t.Errorf("no warning about serving as a superuser in the logs:\n%s", logs)
	}
}

// loggedAddr is the addr of the first log line with message msg.
func loggedAddr(t *testing.T, logs *testlog.Buffer, msg string) string {
	t.Helper()
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == msg {
			return rec.Addr
		}
	}
	t.Fatalf("no %q in the logs:\n%s", msg, logs)
	return ""
}

// startServe runs `portal serve` with env until stop is called (which
// checks that it shut down cleanly) and returns its address and its logs.
func startServe(t *testing.T, env map[string]string) (addr string, logs *testlog.Buffer, stop func()) {
	t.Helper()
	env["PORTAL_ADDR"] = "127.0.0.1:0"
	if env["PORTAL_METRICS_ADDR"] == "" {
		env["PORTAL_METRICS_ADDR"] = "127.0.0.1:0" // never the default :9090, which `make run` may hold
	}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	logs = &testlog.Buffer{}
	go func() {
		done <- serve(ctx, func(k string) string { return env[k] }, logs, func(cfg *config.Config, _ *app.App) { addrc <- cfg.Addr })
	}()
	select {
	case addr = <-addrc:
	case err := <-done:
		cancel()
		t.Fatalf("serve failed: %v\n%s", err, logs)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after shutdown", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not stop")
		}
	}
	t.Cleanup(stop)
	return addr, logs, stop
}

func TestServeRefusesToStartWithoutKeyring(t *testing.T) {
	env := map[string]string{
		"PORTAL_DATABASE_URL": pgtest.New(t),
		"PORTAL_ADDR":         "127.0.0.1:0",
		"PORTAL_METRICS_ADDR": "",
		"PORTAL_KEYRING":      filepath.Join(t.TempDir(), "absent.keyring"),
	}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "portal keys init") {
		t.Fatalf("err = %v, want advice to run portal keys init", err)
	}
}

func TestUserCreateWithPasswordFromStdin(t *testing.T) {
	env := map[string]string{
		"PORTAL_DATABASE_URL": pgtest.New(t),
	}
	addKeyring(t, env)
	getenv := func(k string) string { return env[k] }
	typedOnStdin(t, "granite meadow lighthouse echoes\n")

	var out bytes.Buffer
	args := []string{"user", "create", "--email", "Admin@Plan.example", "--name", "Ada Admin", "--role", "admin", "--password-stdin"}
	if err := run(context.Background(), args, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created active admin account admin@plan.example") {
		t.Errorf("output %q", out.String())
	}
	var errOut bytes.Buffer
	err := run(context.Background(), args, getenv, io.Discard, &errOut)
	if err == nil {
		t.Error("creating the same email twice succeeded")
	}

	typedOnStdin(t, "short\n")
	errOut.Reset()
	err = run(context.Background(), []string{"user", "create", "--email", "b@plan.example", "--role", "staff", "--password-stdin"}, getenv, io.Discard, &errOut)
	if err == nil || !strings.Contains(errOut.String(), "at least 15 characters") {
		t.Errorf("weak password: err %v, stderr %q", err, errOut.String())
	}
	err = run(context.Background(), []string{"user", "create", "--email", "c@plan.example", "--role", "superuser"}, getenv, io.Discard, io.Discard)
	var u usageError
	if !errors.As(err, &u) {
		t.Errorf("forged role: %v, want usage error", err)
	}
}

// Tampering with an audit row, even as a superuser with the append-only
// trigger disabled, is found by `portal audit verify`.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	dbURL := pgtest.New(t)
	env := map[string]string{"PORTAL_DATABASE_URL": dbURL}
	getenv := func(k string) string { return env[k] }
	addKeyring(t, env)
	typedOnStdin(t, "granite meadow lighthouse echoes\n")
	for _, e := range []string{"a@plan.example", "b@plan.example", "c@plan.example"} {
		if err := run(context.Background(), []string{"user", "create", "--email", e, "--role", "staff", "--password-stdin"}, getenv, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "verify"}, getenv, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ok: 3 audit events verified") {
		t.Fatalf("intact chain: %v %q", err, out.String())
	}

	pool := pgtest.NewPoolFor(t, dbURL)
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `UPDATE audit_events SET action = 'x' WHERE id = 2`); err == nil {
		t.Fatal("the portal's role could edit the audit log")
	}
	// A superuser bypasses the trigger; the chain still tells.
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
		UPDATE audit_events SET detail = '{"role":"admin"}' WHERE id = (SELECT min(id) + 1 FROM audit_events);
		ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(context.Background(), []string{"audit", "verify"}, getenv, &out, io.Discard)
	if !errors.Is(err, errAuditBroken) || !strings.Contains(out.String(), "BROKEN at audit event") || !strings.Contains(out.String(), "edited") {
		t.Fatalf("tampered chain: %v %q", err, out.String())
	}

	// Deleting a row (restoring the edited one first) breaks the links.
	if _, err := pool.Exec(ctx, `ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update;
		UPDATE audit_events SET detail = '{"role":"staff","with_password":true}' WHERE id = (SELECT min(id) + 1 FROM audit_events);
		DELETE FROM audit_events WHERE id = (SELECT min(id) + 1 FROM audit_events);
		ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update`); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = run(context.Background(), []string{"audit", "verify"}, getenv, &out, io.Discard)
	if !errors.Is(err, errAuditBroken) || !strings.Contains(out.String(), "does not link") {
		t.Fatalf("deleted row: %v %q", err, out.String())
	}
}

// cliAdmin makes a database and keyring with one active admin,
// root@plan.example, created with `portal user create`.
func cliAdmin(t *testing.T) (dbURL string, getenv func(string) string) {
	t.Helper()
	dbURL = pgtest.New(t)
	env := map[string]string{"PORTAL_DATABASE_URL": dbURL}
	getenv = func(k string) string { return env[k] }
	addKeyring(t, env)
	typedOnStdin(t, "granite meadow lighthouse echoes\n")
	if err := run(context.Background(), []string{"user", "create", "--email", "root@plan.example", "--role", "admin", "--password-stdin"}, getenv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	return dbURL, getenv
}

func TestUserResetUnlocksAndQueuesALink(t *testing.T) {
	dbURL, getenv := cliAdmin(t)
	pool := pgtest.NewPoolFor(t, dbURL)
	ctx := context.Background()
	pool.Exec(ctx, `UPDATE users SET status = 'locked'`)
	var out bytes.Buffer
	if err := run(ctx, []string{"user", "reset", "--email", "root@plan.example"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var status string
	var epoch, jobs int
	pool.QueryRow(ctx, `SELECT status, auth_epoch FROM users`).Scan(&status, &epoch)
	pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'account_link_email' AND args->>'purpose' = 'reset'`).Scan(&jobs)
	if status != "active" || epoch != 2 || jobs != 1 || !strings.Contains(out.String(), "signed out everywhere") {
		t.Errorf("status %s epoch %d jobs %d out %q", status, epoch, jobs, out.String())
	}
	if err := run(ctx, []string{"user", "reset", "--email", "nobody@plan.example"}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("reset of an unknown account succeeded")
	}
}

// addKeyring gives env a fresh keyring file, as `portal keys init` would.
func addKeyring(t *testing.T, env map[string]string) {
	t.Helper()
	env["PORTAL_KEYRING"] = filepath.Join(t.TempDir(), "portal.keyring")
	if err := ensureDevKeyring(env["PORTAL_KEYRING"]); err != nil {
		t.Fatal(err)
	}
}

// typedOnStdin makes the commands run by this test read input from
// standard input, until the test ends.
func typedOnStdin(t *testing.T, input string) {
	stdinOf = func() io.Reader { return strings.NewReader(input) }
	t.Cleanup(func() { stdinOf = func() io.Reader { return os.Stdin } })
}

func TestUserResetMFARemovesTheAppAndEndsSessions(t *testing.T) {
	_, getenv := cliAdmin(t)
	ctx := context.Background()
	// The admin sets up an app, as the set-up page would.
	a, err := openApp(ctx, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Pool.Close()
	u, err := a.Accounts.UserByEmail(ctx, "root@plan.example")
	if err != nil {
		t.Fatal(err)
	}
	key, err := a.Accounts.NewTOTPKey(u)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := accounts.TOTPCode(key.Secret, time.Now())
	if _, err := a.Accounts.ConfirmTOTP(ctx, u, key.Secret, code, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"user", "reset-mfa", "--email", "ROOT@plan.example"}, getenv, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var secrets, codes, epoch, audited, notices int
	a.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM totp_secrets), (SELECT count(*) FROM recovery_codes), (SELECT auth_epoch FROM users),
		(SELECT count(*) FROM audit_events WHERE action = 'admin.reset_mfa'),
		(SELECT count(*) FROM river_job WHERE kind = 'security_notice_email' AND args->>'change' = 'second_factor_reset_by_admin')`).
		Scan(&secrets, &codes, &epoch, &audited, &notices)
	if secrets != 0 || codes != 0 || epoch != 2 || audited != 1 || notices != 1 || !strings.Contains(out.String(), "signed out everywhere") {
		t.Errorf("secrets %d codes %d epoch %d audited %d notices %d out %q", secrets, codes, epoch, audited, notices, out.String())
	}
	err = run(ctx, []string{"user", "reset-mfa", "--email", "root@plan.example"}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no authenticator app") {
		t.Errorf("second reset: %v", err)
	}
	if err := run(ctx, []string{"user", "reset-mfa"}, getenv, io.Discard, io.Discard); err == nil {
		t.Error("reset-mfa without --email succeeded")
	}
}
