package deliverytest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Postfix is a private instance of the system's Postfix (Debian's package,
// which .ci/run installs): its own configuration, queue, data and mail
// directories under one temporary directory, listening only on loopback
// addresses, the final destination for the test's domains and for nothing
// else. It never relays, never looks anything up in DNS and has no
// transport that could reach another host.
//
// Postfix's master daemon runs as a child of the test (in the foreground,
// in its own process group) and is stopped when the test ends. Starting
// it needs root, as Postfix itself does.
type Postfix struct {
	// IP and Port are where smtpd offers STARTTLS.
	IP   string
	Port int
	// PlainIP, when configured, is a second smtpd on the same port that
	// offers no STARTTLS.
	PlainIP string
	// Dir holds everything: etc/ (main.cf, master.cf, certificate), queue/,
	// data/, mail/ (the Maildirs) and maillog.
	Dir string

	cfg  PostfixConfig
	bins postfixBinaries
	cmd  *exec.Cmd
	done chan error
	// virtualIDs are the uid and gid the virtual agent delivers as.
	virtualIDs [2]int
}

// PostfixConfig describes one instance.
type PostfixConfig struct {
	// Host is Postfix's own name (myhostname) on the STARTTLS service: the
	// MX host name its certificate should carry.
	Host string
	// Cert is what smtpd offers after STARTTLS (a test-CA leaf for Host).
	Cert tls.Certificate
	// IP is the loopback address of the STARTTLS service, e.g. 127.0.0.9.
	IP string
	// PlainHost and PlainIP, when PlainIP is set, add a second smtpd on the
	// same port that never offers STARTTLS.
	PlainHost string
	PlainIP   string
	// Mailboxes maps each address Postfix accepts to its Maildir under
	// mail/, e.g. "someone@postfix.test" -> "someone/". The addresses'
	// domains are the instance's only (virtual mailbox) domains; any other
	// recipient is refused.
	Mailboxes map[string]string
	// Hold puts every accepted message on hold, so that its queue file can
	// be read (QueueFile) before Release lets Postfix deliver it.
	Hold bool
}

// postfixBinaries are the programs a private instance needs.
type postfixBinaries struct {
	postfix, postconf, postcat, postsuper, postqueue, master string
}

// RequirePostfix finds the Postfix programs and checks that this test may
// run them: as root (Postfix refuses otherwise) with the postfix user and
// postdrop group present. When anything is missing the test is skipped,
// except under CI=true, where it fails: CI must not pass by testing
// nothing.
func RequirePostfix(t testing.TB) {
	t.Helper()
	if _, err := findPostfix(); err != nil {
		unavailable(t, err)
	}
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("deliverytest: Postfix is required in CI (.ci/run installs Debian's postfix package): %v", err)
	}
	t.Skipf("deliverytest: Postfix not available: %v", err)
}

func findPostfix() (postfixBinaries, error) {
	var b postfixBinaries
	for name, path := range map[string]*string{
		"postfix": &b.postfix, "postconf": &b.postconf, "postcat": &b.postcat,
		"postsuper": &b.postsuper, "postqueue": &b.postqueue,
	} {
		found, err := exec.LookPath(name)
		if err != nil {
			// /usr/sbin is often missing from a non-login PATH.
			if _, serr := os.Stat("/usr/sbin/" + name); serr != nil {
				return b, fmt.Errorf("%s not found: %w", name, err)
			}
			found = "/usr/sbin/" + name
		}
		*path = found
	}
	if os.Geteuid() != 0 {
		return b, errors.New("must run as root: Postfix's master daemon starts only as root")
	}
	out, err := exec.Command(b.postconf, "-dh", "daemon_directory").Output()
	if err != nil {
		return b, fmt.Errorf("postconf -dh daemon_directory: %w", err)
	}
	b.master = filepath.Join(strings.TrimSpace(string(out)), "master")
	if _, err := os.Stat(b.master); err != nil {
		return b, err
	}
	if _, err := user.Lookup("postfix"); err != nil {
		return b, fmt.Errorf("the postfix user: %w", err)
	}
	if _, err := user.LookupGroup("postdrop"); err != nil {
		return b, fmt.Errorf("the postdrop group: %w", err)
	}
	return b, nil
}

// StartPostfix configures and starts an instance; it is stopped, and its
// directory removed, when the test ends. If the test failed, Postfix's
// log is printed first. A port free on every configured address is
// picked; Postfix's two services share it as MX hosts share port 25.
func StartPostfix(t testing.TB, cfg PostfixConfig) *Postfix {
	t.Helper()
	bins, err := findPostfix()
	if err != nil {
		unavailable(t, err)
	}
	for _, ip := range []string{cfg.IP, cfg.PlainIP} {
		if parsed := net.ParseIP(ip); ip != "" && (parsed == nil || !parsed.IsLoopback() || parsed.To4() == nil) {
			t.Fatalf("deliverytest: Postfix address %q is not an IPv4 loopback address", ip)
		}
	}
	if cfg.IP == "" || cfg.Host == "" || len(cfg.Mailboxes) == 0 {
		t.Fatal("deliverytest: PostfixConfig needs Host, IP and Mailboxes")
	}
	dir, err := postfixDir()
	if err != nil {
		t.Fatalf("deliverytest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	p := &Postfix{IP: cfg.IP, PlainIP: cfg.PlainIP, Dir: dir, cfg: cfg, bins: bins}
	if err := p.prepare(); err != nil {
		t.Fatalf("deliverytest: prepare Postfix: %v", err)
	}
	// The port is free when picked but may be taken before master binds
	// it (other tests run in parallel); then master exits and we retry.
	var lastErr error
	for range 3 {
		port, err := p.freePort()
		if err != nil {
			t.Fatalf("deliverytest: %v", err)
		}
		p.Port = port
		if lastErr = p.start(); lastErr == nil {
			break
		}
		p.stop()
	}
	if lastErr != nil {
		t.Fatalf("deliverytest: start Postfix: %v\n%s", lastErr, p.diagnostics())
	}
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("Postfix (%s):\n%s", p.Dir, p.diagnostics())
		}
	})
	return p
}

// postfixDir makes the instance's directory. Postfix's processes run as
// the postfix user and open absolute paths under it (the virtual delivery
// agent writes the Maildirs as that user), so every parent must be
// searchable by others; t.TempDir() is mode 0700, so it is not used.
func postfixDir() (string, error) {
	dir, err := os.MkdirTemp("", "postfix-test-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return "", err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("%s is not searchable by the postfix user; set TMPDIR to a directory that is (such as /tmp)", d)
		}
		if d == filepath.Dir(d) {
			return dir, nil
		}
	}
}

func (p *Postfix) etc(name string) string { return filepath.Join(p.Dir, "etc", name) }

// prepare writes the certificate, key and mail directories and creates the
// queue as Debian's postfix-files describes it (what "postfix check"
// would do, without its seconds of shell scripts).
func (p *Postfix) prepare() error {
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(pfUser.Uid)
	gid, _ := strconv.Atoi(pfUser.Gid)
	postdrop, err := user.LookupGroup("postdrop")
	if err != nil {
		return err
	}
	dropGID, _ := strconv.Atoi(postdrop.Gid)

	type dirSpec struct {
		path     string
		uid, gid int
		mode     os.FileMode
	}
	dirs := []dirSpec{
		{"etc", 0, 0, 0o755},
		{"queue", 0, 0, 0o755},
		{"queue/pid", 0, 0, 0o755},
		{"queue/maildrop", uid, dropGID, 0o730},
		{"queue/public", uid, dropGID, 0o710},
		{"data", uid, gid, 0o700},
		{"mail", uid, gid, 0o700},
	}
	for _, q := range []string{"active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private", "saved", "trace"} {
		dirs = append(dirs, dirSpec{"queue/" + q, uid, 0, 0o700})
	}
	for _, d := range dirs {
		path := filepath.Join(p.Dir, d.path)
		if err := os.Mkdir(path, d.mode); err != nil {
			return err
		}
		if err := os.Chown(path, d.uid, d.gid); err != nil {
			return err
		}
		if err := os.Chmod(path, d.mode); err != nil { // past the umask
			return err
		}
	}

	var certPEM []byte
	for _, der := range p.cfg.Cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.cfg.Cert.PrivateKey)
	if err != nil {
		return fmt.Errorf("certificate key: %w", err)
	}
	if err := os.WriteFile(p.etc("cert.pem"), certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(p.etc("key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}

	p.virtualIDs = [2]int{uid, gid}
	return nil
}

// freePort finds a port free on every address of the instance.
func (p *Postfix) freePort() (int, error) {
	ips := []string{p.IP}
	if p.PlainIP != "" {
		ips = append(ips, p.PlainIP)
	}
	lns, err := listenShared(ips)
	if err != nil {
		return 0, err
	}
	port := lns[0].Addr().(*net.TCPAddr).Port
	for _, ln := range lns {
		_ = ln.Close()
	}
	return port, nil
}

// start writes the configuration for p.Port and runs master until every
// service address accepts connections.
func (p *Postfix) start() error {
	// Postfix rereads a configuration file modified within the last
	// second or so until it stops changing ("hot" files, 300 ms at a
	// time): dated a minute back, the fresh files are read at once.
	past := time.Now().Add(-time.Minute)
	for name, text := range map[string]string{"main.cf": p.mainCF(), "master.cf": p.masterCF()} {
		if err := os.WriteFile(p.etc(name), []byte(text), 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p.etc(name), past, past); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(filepath.Join(p.Dir, "master.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	// -d keeps master in the foreground as our child. Its own process
	// group lets master's SIGTERM handler stop every Postfix process.
	cmd := exec.Command(p.bins.master, "-c", filepath.Join(p.Dir, "etc"), "-d")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd, p.done = cmd, make(chan error, 1)
	go func() { p.done <- cmd.Wait() }()

	addrs := []string{net.JoinHostPort(p.IP, strconv.Itoa(p.Port))}
	if p.PlainIP != "" {
		addrs = append(addrs, net.JoinHostPort(p.PlainIP, strconv.Itoa(p.Port)))
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, addr := range addrs {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			select {
			case err := <-p.done:
				p.done <- err
				// A fatal error before postlogd runs (a port taken, a bad
				// main.cf) goes to syslog, not to maillog.
				return fmt.Errorf("master exited before listening on %s (port taken or configuration refused; see syslog): %v", addr, err)
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("postfix did not listen on %s: %w", addr, err)
			}
		}
	}
	return nil
}

// stop terminates master, which passes SIGTERM to its process group, and
// waits for it.
func (p *Postfix) stop() {
	if p.cmd == nil {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// The children got SIGTERM from master; give them a moment to go, so
	// that none writes while the directory is removed.
	waitFor(3*time.Second, func() bool { return !groupAlive(pgid) })
	p.cmd = nil
}

// groupAlive reports whether a process of group pgid is still running.
// Exited children of master are reparented and wait, as zombies, for
// init to reap them, so kill(-pgid, 0) would still find them: /proc
// tells the running from the dead.
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return false // not Linux: do not wait
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may contain spaces.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) >= 3 && fields[0] != "Z" && fields[0] != "X" && fields[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}
