// Package balancertest runs Debian's HAProxy (package haproxy, installed
// by .ci/run) in front of portal instances on loopback, configured as
// deploy/haproxy.cfg is (without TLS), for tests that need a real balancer.
package balancertest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bin is where Debian puts HAProxy.
const Bin = "/usr/sbin/haproxy"

// Options change the configuration.
type Options struct {
	// NoRetries leaves out deploy/haproxy.cfg's "retry-on conn-failure",
	// so that a test proves the instances' own drain rather than the
	// balancer's second chance.
	NoRetries bool
}

// config is deploy/haproxy.cfg for loopback: /readyz checked every 100
// ms, two failures take an instance out, two passes bring it back. A check
// may take 2 s: left to its default (the interval, 100 ms), a busy CI
// machine's /readyz, which asks the database, timed out and HAProxy took
// both instances out (a 503 for the browser journey).
const config = `global
	maxconn 512
defaults
	mode http
	timeout connect 2s
	timeout client 30s
	timeout server 30s
	timeout check 2s
%s
frontend portal
	bind %s
	default_backend portals
backend portals
	balance roundrobin
	option httpchk GET /readyz
	http-check expect status 200
	default-server inter 100ms fall 2 rise 2
%s`

// Start runs HAProxy in the foreground on front (host:port), balancing
// over backends (host:port each), until the test ends, and returns once a
// request has gone through and every backend has passed its checks.
// Without HAProxy the test is skipped, except under CI=true, where it
// fails: CI must prove the balanced deployment.
func Start(t testing.TB, front string, opts Options, backends ...string) {
	t.Helper()
	if _, err := os.Stat(Bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("HAProxy is not installed (%s): install Debian's haproxy", Bin)
		}
		t.Skipf("HAProxy is not installed (%s); apt-get install haproxy", Bin)
	}
	retries := "\tretries 3\n\toption redispatch 1\n\tretry-on conn-failure"
	if opts.NoRetries {
		retries = "\tretry-on none"
	}
	var servers strings.Builder
	for i, b := range backends {
		fmt.Fprintf(&servers, "\tserver portal%d %s check\n", i+1, b)
	}
	cfg := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(config, retries, front, servers.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(Bin, "-db", "-f", cfg)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := &http.Client{Timeout: 2 * time.Second}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		res, err := c.Get("http://" + front + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("HAProxy on %s did not pass a request through:\n%s", front, out.String())
		}
	}
	// Every backend up in HAProxy's eyes: "rise 2" checks, 100 ms apart.
	time.Sleep(300 * time.Millisecond)
}

// FreeAddr is a loopback address with a port free a moment ago, for the
// balancer's front end.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
