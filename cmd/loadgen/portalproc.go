package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// portalProcess is a `portal serve` started by bench, its output in a file.
type portalProcess struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

// runPortal runs a one-shot portal command (migrate) to its end.
func runPortal(ctx context.Context, bin string, env map[string]string, command string) error {
	cmd := exec.CommandContext(ctx, bin, command)
	cmd.Env = environ(env)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("portal %s: %w\n%s", command, err, out)
	}
	return nil
}

// startPortal starts `portal serve` and waits until it is ready.
func startPortal(ctx context.Context, bin string, env map[string]string, dir string) (*portalProcess, error) {
	p := &portalProcess{log: filepath.Join(dir, "portal.log"), done: make(chan error, 1)}
	logFile, err := os.Create(p.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = environ(env), logFile, logFile
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("portal serve: %w", err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	ready := env["PORTAL_BASE_URL"] + "/readyz"
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			return nil, fmt.Errorf("portal serve exited (%v): %s", err, p.logTail())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("portal serve not ready after 30s: %s", p.logTail())
		}
	}
}

// stop ends the portal as an operator would (SIGTERM: in-flight requests
// finish), and kills it if it takes more than 30 seconds.
func (p *portalProcess) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// logTail is the end of the portal's output, for errors.
func (p *portalProcess) logTail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freeAddr is a loopback address with a port free at the time of asking.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
