package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// profileServer records a CPU profile of the portal over the next d from
// its metrics listener (Go's /debug/pprof/profile) into path, in the
// background; wait returns once the file is written. With no path it
// records nothing. Read it with `go tool pprof -top path`.
func profileServer(ctx context.Context, metricsURL, path string, d time.Duration) (wait func() error) {
	if path == "" || metricsURL == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- fetchProfile(ctx, metricsURL, path, d) }()
	return func() error { return <-done }
}

func fetchProfile(ctx context.Context, metricsURL, path string, d time.Duration) error {
	seconds := max(1, int((d+time.Second-1)/time.Second))
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(metricsURL, "/"), seconds)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("cpu profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return fmt.Errorf("cpu profile: %w", err)
	}
	return f.Close()
}

// profileName names a bench run's profile file: the scenario, or "mix".
func profileName(spec string) string {
	if strings.Contains(spec, ",") {
		return "mix"
	}
	return spec
}
