package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serverUse is what the portal's process spent during a run, read from its
// metrics listener (PORTAL_METRICS_ADDR): CPU seconds (the difference of
// process_cpu_seconds_total) and the largest process_resident_memory_bytes
// seen, sampled every second.
type serverUse struct {
	cpuSeconds float64
	peakRSS    float64 // bytes
}

// watchServer samples metricsURL until stop is called; with no URL it
// measures nothing.
func watchServer(ctx context.Context, metricsURL string) (stop func() (serverUse, error)) {
	if metricsURL == "" {
		return func() (serverUse, error) { return serverUse{}, nil }
	}
	before, err := scrape(ctx, metricsURL)
	peak := before["process_resident_memory_bytes"]
	stopSampling := every(time.Second, func() {
		if m, err := scrape(ctx, metricsURL); err == nil {
			peak = max(peak, m["process_resident_memory_bytes"])
		}
	})
	return func() (serverUse, error) {
		stopSampling()
		if err != nil {
			return serverUse{}, err
		}
		after, err := scrape(ctx, metricsURL)
		if err != nil {
			return serverUse{}, err
		}
		peak = max(peak, after["process_resident_memory_bytes"])
		return serverUse{cpuSeconds: after["process_cpu_seconds_total"] - before["process_cpu_seconds_total"], peakRSS: peak}, nil
	}
}

// scrape reads the unlabelled process_ samples of a Prometheus text page.
func scrape(ctx context.Context, metricsURL string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(metricsURL, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("server metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("server metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "process_") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}
