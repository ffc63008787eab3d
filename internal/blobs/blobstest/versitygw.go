// Package blobstest runs a real S3 server for tests: the Versity S3
// Gateway (github.com/versity/versitygw, Apache-2.0) over a temporary
// directory, installed by .ci/run with `go install`. Chosen because it is
// a maintained S3 implementation that installs from the Go module proxy
// in under a minute; SeaweedFS's weed cannot be `go install`ed (its
// go.mod has replace directives) and MinIO's server is not offered here.
package blobstest

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthnet/secureportal/internal/blobs"
)

// Access and Secret are the test server's credentials.
const (
	Access = "portal-test-access"
	Secret = "portal-test-secret-key"
)

// Server is a running gateway.
type Server struct {
	Addr string // host:port
	cmd  *exec.Cmd
	dir  string
	t    testing.TB
}

// Binary finds versitygw on PATH or in GOPATH/bin. Without it the test is
// skipped, except under CI=true, where it fails.
func Binary(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(home, "go", "bin")} {
		if p := filepath.Join(dir, "versitygw"); dir != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	msg := "versitygw is not installed: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Start runs a gateway on a free loopback port over a fresh directory,
// until the test ends (or Stop).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	s := &Server{dir: t.TempDir(), t: t}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	ln.Close()
	s.start(bin)
	t.Cleanup(s.Stop)
	return s
}

func (s *Server) start(bin string) {
	s.t.Helper()
	s.cmd = exec.Command(bin, "--access", Access, "--secret", Secret, "--port", s.Addr, "posix", s.dir)
	// Its request log would drown the test output; a failure shows in the client.
	s.cmd.Stdout, s.cmd.Stderr = nil, nil
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", s.Addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("versitygw did not listen on %s", s.Addr)
		}
	}
}

// Stop ends the server (an outage); Restart brings it back with the same
// objects.
func (s *Server) Stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart starts the server again on the same address and directory.
func (s *Server) Restart() { s.start(Binary(s.t)) }

// URL is a PORTAL_BLOB_URL for bucket on this server.
func (s *Server) URL(bucket string) string {
	return "s3://" + bucket + "?endpoint=http://" + s.Addr + "&region=us-east-1"
}

// Bucket creates bucket and returns a store for it.
func (s *Server) Bucket(t testing.TB, bucket string) *blobs.S3 {
	t.Helper()
	store, err := blobs.OpenS3(s.URL(bucket), Access, Secret)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.MakeBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	return store
}
