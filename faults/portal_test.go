package faults

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/jackc/pgx/v5/pgxpool"
)

// portalBinary builds ./cmd/portal once per test run.
var portalBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "portal-faults-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "portal")
	// go test puts its own toolchain's bin first in PATH: this "go" is the
	// one running the test.
	cmd := exec.Command("go", "build", "-o", bin, "github.com/healthnet/secureportal/cmd/portal")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", errors.New("go build ./cmd/portal: " + err.Error() + "\n" + out.String())
	}
	return bin, nil
})

// portal is one `portal serve` process.
type portal struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the web listener, host:port
	done chan struct{}
	// listening receives the address once the portal says it listens.
	listening chan string

	mu   sync.Mutex
	logs []string // JSON log lines
}

// startPortal runs `portal serve` with env (PORTAL_ADDR is set to a free
// loopback port) and waits until it listens.
func startPortal(t *testing.T, env map[string]string) *portal {
	t.Helper()
	p := launchPortal(t, env)
	p.awaitListening()
	return p
}

// launchPortal runs `portal serve` as startPortal does, without waiting:
// several can start at the same moment, then awaitListening each.
func launchPortal(t *testing.T, env map[string]string) *portal {
	t.Helper()
	bin, err := portalBinary()
	if err != nil {
		t.Fatal(err)
	}
	env["PORTAL_ADDR"] = "127.0.0.1:0"
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "TMPDIR=" + os.TempDir()}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &portal{t: t, cmd: cmd, done: make(chan struct{}), listening: make(chan string, 1)}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs = append(p.logs, line)
			p.mu.Unlock()
			var rec struct {
				Msg, Addr string
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "portal listening" {
				p.listening <- rec.Addr
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// awaitListening waits until a launched portal listens.
func (p *portal) awaitListening() {
	p.t.Helper()
	select {
	case p.addr = <-p.listening:
	case <-p.done:
		p.t.Fatalf("portal exited before listening:\n%s", p.logText())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("portal did not start:\n%s", p.logText())
	}
}

// kill ends the process with SIGKILL, as a crash or the OOM killer would:
// no shutdown, no deferred work, jobs left as they were.
func (p *portal) kill() {
	if p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop ends the process with SIGTERM and waits for it.
func (p *portal) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.kill()
	}
}

// logged counts the log lines with message msg.
func (p *portal) logged(msg string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.logs {
		if strings.Contains(l, `"msg":"`+msg+`"`) {
			n++
		}
	}
	return n
}

func (p *portal) logText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.logs, "\n")
}

// waitFor polls cond every 20 ms until it holds or d passes.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// services assembles in this process, not started, the services the portal
// runs, over pool with env's configuration: through them a test writes what
// staff and providers would.
func services(t *testing.T, env map[string]string, pool *pgxpool.Pool, kr *envelope.Keyring) *app.App {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	svc, err := app.New(cfg, slog.New(slog.DiscardHandler), pool, kr, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// activeUser creates an active account with the tests' password.
func activeUser(t *testing.T, svc *app.App, email, name string, role accounts.Role) accounts.User {
	t.Helper()
	u, err := svc.Accounts.CreateUser(context.Background(), email, name, role, password, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newKeyring makes a fresh keyring file for a test's portal; it returns the
// path (PORTAL_KEYRING) and the keyring for in-process services.
func newKeyring(t *testing.T) (string, *envelope.Keyring) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "portal.keyring")
	kr, err := envelope.InitKeyring(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, kr
}

// startSink starts a loopback mail sink keeping capacity messages, closed
// when the test ends.
func startSink(t *testing.T, capacity int) *mailcatcher.Server {
	t.Helper()
	sink, err := mailcatcher.StartWithOptions("127.0.0.1:0", mailcatcher.Options{Capacity: capacity})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return sink
}
