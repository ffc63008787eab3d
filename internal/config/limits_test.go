package config

import (
	"strings"
	"testing"
	"time"
)

func TestLimitsDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConns: 4096, MaxConnsPerIP: 64, ReadHeaderTimeout: 10 * time.Second,
		BodyTimeout: 10 * time.Second, MinRate: 10 << 10, WriteTimeout: 2 * time.Minute}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
}

func TestLimitsFromEnvironment(t *testing.T) {
	vars := valid()
	for k, v := range map[string]string{"PORTAL_MAX_CONNS": "1000", "PORTAL_MAX_CONNS_PER_IP": "20", "PORTAL_READ_HEADER_TIMEOUT": "5s",
		"PORTAL_BODY_TIMEOUT": "15s", "PORTAL_MIN_TRANSFER_RATE": "2048", "PORTAL_WRITE_TIMEOUT": "10m"} {
		vars[k] = v
	}
	c, err := Load(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MaxConns: 1000, MaxConnsPerIP: 20, ReadHeaderTimeout: 5 * time.Second,
		BodyTimeout: 15 * time.Second, MinRate: 2048, WriteTimeout: 10 * time.Minute}
	if c.Limits != want {
		t.Errorf("limits = %+v, want %+v", c.Limits, want)
	}
}

func TestLimitsRefuseNonsense(t *testing.T) {
	for name, value := range map[string]string{
		"PORTAL_MAX_CONNS":           "0",
		"PORTAL_MAX_CONNS_PER_IP":    "-1",
		"PORTAL_READ_HEADER_TIMEOUT": "soon",
		"PORTAL_BODY_TIMEOUT":        "0s",
		"PORTAL_MIN_TRANSFER_RATE":   "fast",
		"PORTAL_WRITE_TIMEOUT":       "-1m",
	} {
		vars := valid()
		vars[name] = value
		if _, err := Load(env(vars)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: err %v", name, value, err)
		}
	}
	vars := valid()
	vars["PORTAL_MAX_CONNS"], vars["PORTAL_MAX_CONNS_PER_IP"] = "10", "11"
	if _, err := Load(env(vars)); err == nil || !strings.Contains(err.Error(), "PORTAL_MAX_CONNS_PER_IP must not be more than PORTAL_MAX_CONNS") {
		t.Errorf("per-IP cap over the total: err %v", err)
	}
}
