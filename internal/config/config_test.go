package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv {
	return func(k string) string { return m[k] }
}

func valid() map[string]string {
	return map[string]string{"PORTAL_DATABASE_URL": "postgres://localhost/portal"}
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(valid()))
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionIdle != 15*time.Minute || c.SessionLifetime != 12*time.Hour {
		t.Errorf("session timeouts = %v/%v, want 15m/12h", c.SessionIdle, c.SessionLifetime)
	}
	if c.Addr != ":8080" || c.BaseURL.String() != "http://localhost:8080" {
		t.Errorf("addr %q base %q", c.Addr, c.BaseURL)
	}
	if c.SecureCookies() {
		t.Error("http base URL must not ask for Secure cookies")
	}
	if c.SMTP.Host != "127.0.0.1" || c.SMTP.Port != 1025 || c.SMTP.TLS != "none" {
		t.Errorf("smtp = %+v", c.SMTP)
	}
	if c.MetricsAddr != "" {
		t.Errorf("metrics listener %q without PORTAL_METRICS_ADDR, want none", c.MetricsAddr)
	}
	if c.Accounts.MaxHashes != runtime.GOMAXPROCS(0) {
		t.Errorf("argon2id computations at once = %d, want one per usable core (%d)", c.Accounts.MaxHashes, runtime.GOMAXPROCS(0))
	}
	if c.JobRescueAfter != 2*time.Minute {
		t.Errorf("job rescue after %s, want 2m", c.JobRescueAfter)
	}
	d := c.Delivery
	if d.TLSFirst() || d.SMTPPort != 25 || d.MTASTSPort != 443 || d.HELO != "localhost" || d.InboundAddr != "" || d.FallbackAfter != time.Hour {
		t.Errorf("delivery defaults = %+v, want portal-only, ports 25/443, HELO of the base URL, no listener, fallback 1h", d)
	}
}

func TestLoadAcceptsDatabaseURLFallback(t *testing.T) {
	c, err := Load(env(map[string]string{"DATABASE_URL": "postgresql://db/x"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgresql://db/x" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
}

func TestLoadReadsSecretsFromFiles(t *testing.T) {
	dir := t.TempDir()
	dbFile := filepath.Join(dir, "db")
	smtpFile := filepath.Join(dir, "smtp")
	os.WriteFile(dbFile, []byte("postgres://u:secret@db/portal\n"), 0o600)
	os.WriteFile(smtpFile, []byte("smtp://mailer:pw@mail.example.org:2525?tls=starttls"), 0o600)
	c, err := Load(env(map[string]string{"PORTAL_DATABASE_URL_FILE": dbFile, "PORTAL_SMTP_URL_FILE": smtpFile}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://u:secret@db/portal" {
		t.Errorf("DatabaseURL = %q", c.DatabaseURL)
	}
	want := SMTP{Host: "mail.example.org", Port: 2525, Username: "mailer", Password: "pw", TLS: "starttls"}
	if c.SMTP != want {
		t.Errorf("SMTP = %+v, want %+v", c.SMTP, want)
	}
}

func TestLoadParsesContactsAndProxies(t *testing.T) {
	m := valid()
	m["PORTAL_ORG_CONTACTS"] = "Provider Services – Los Angeles County=tel:1-855-464-3571; Email=mailto:provider_services@healthnet.com;Web=https://www.healthnet.com"
	m["PORTAL_TRUSTED_PROXIES"] = "10.0.0.0/8, 192.168.1.7"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Org.Contacts) != 3 || c.Org.Contacts[0].Value != "1-855-464-3571" || c.Org.Contacts[2].Value != "www.healthnet.com" {
		t.Errorf("contacts = %+v", c.Org.Contacts)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.7/32" {
		t.Errorf("proxies = %v", c.TrustedProxies)
	}
}

// Each bad value must stop start-up with a message naming the variable and
// saying what is wrong, so an operator can fix it without reading code.
func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	cases := []struct {
		name, key, value, want string
	}{
		{"missing database", "PORTAL_DATABASE_URL", "", "PORTAL_DATABASE_URL is required"},
		{"database not postgres", "PORTAL_DATABASE_URL", "mysql://x", "PORTAL_DATABASE_URL must be a postgres://"},
		{"idle not a duration", "PORTAL_SESSION_IDLE", "fifteen", `PORTAL_SESSION_IDLE must be a positive duration such as 15m or 12h (got "fifteen")`},
		{"negative lifetime", "PORTAL_SESSION_LIFETIME", "-1h", "PORTAL_SESSION_LIFETIME must be a positive duration"},
		{"idle longer than lifetime", "PORTAL_SESSION_IDLE", "13h", "PORTAL_SESSION_IDLE must not be longer than PORTAL_SESSION_LIFETIME"},
		{"relative base url", "PORTAL_BASE_URL", "secure.example.org", "PORTAL_BASE_URL must be an absolute http:// or https:// URL"},
		{"smtp scheme", "PORTAL_SMTP_URL", "http://mail", "PORTAL_SMTP_URL must look like smtp://"},
		{"smtp tls mode", "PORTAL_SMTP_URL", "smtp://mail?tls=maybe", `PORTAL_SMTP_URL has tls="maybe"`},
		{"bad proxy", "PORTAL_TRUSTED_PROXIES", "10.0.0.0/8,proxy.local", `PORTAL_TRUSTED_PROXIES has "proxy.local"`},
		{"bad addr", "PORTAL_ADDR", "8080", `PORTAL_ADDR must be host:port or :port (got "8080")`},
		{"metrics on public port", "PORTAL_METRICS_ADDR", ":8080", "PORTAL_METRICS_ADDR must differ from PORTAL_ADDR"},
		{"bad from", "PORTAL_MAIL_FROM", "nobody", "PORTAL_MAIL_FROM must be an email address"},
		{"tls cert without key", "PORTAL_TLS_CERT", "/etc/cert.pem", "PORTAL_TLS_CERT and PORTAL_TLS_KEY must be set together"},
		{"log format", "PORTAL_LOG_FORMAT", "xml", "PORTAL_LOG_FORMAT must be one of json, text"},
		{"contact kind", "PORTAL_ORG_CONTACTS", "LA=phone:123", `has kind "phone"`},
		{"lockout threshold", "PORTAL_LOCKOUT_THRESHOLD", "ten", `PORTAL_LOCKOUT_THRESHOLD must be a positive whole number (got "ten")`},
		{"zero hashes", "PORTAL_MAX_CONCURRENT_HASHES", "0", "PORTAL_MAX_CONCURRENT_HASHES must be a positive whole number"},
		{"reset ttl", "PORTAL_RESET_TTL", "30", "PORTAL_RESET_TTL must be a positive duration"},
		{"missing upload dir", "PORTAL_UPLOAD_DIR", "/nonexistent/uploads", `PORTAL_UPLOAD_DIR must be an existing directory (got "/nonexistent/uploads")`},
		{"migrate url", "PORTAL_MIGRATE_DATABASE_URL", "mysql://owner@db/portal", "PORTAL_MIGRATE_DATABASE_URL must be a postgres:// or postgresql:// URL"},
		{"unreadable secret file", "PORTAL_SMTP_URL_FILE", "/nonexistent/smtp", "PORTAL_SMTP_URL_FILE cannot be read"},
		{"delivery mode", "PORTAL_DELIVERY_MODE", "smtp", "PORTAL_DELIVERY_MODE must be one of portal-only, tls-first"},
		{"tls-first without reply domain", "PORTAL_DELIVERY_MODE", "tls-first", "PORTAL_REPLY_DOMAIN is required"},
		{"resolver without port", "PORTAL_DNS_RESOLVER", "127.0.0.53", "PORTAL_DNS_RESOLVER must be host:port"},
		{"smtp port", "PORTAL_DELIVERY_SMTP_PORT", "70000", "PORTAL_DELIVERY_SMTP_PORT must be a port number"},
		{"ca file", "PORTAL_DELIVERY_CA_FILE", "/nonexistent/ca.pem", "PORTAL_DELIVERY_CA_FILE cannot be read"},
		{"inbound without certificate", "PORTAL_SMTP_INBOUND_ADDR", "127.0.0.1:2525", "PORTAL_SMTP_INBOUND_ADDR needs a certificate"},
		{"dkim half set", "PORTAL_DKIM_SELECTOR", "portal", "PORTAL_DKIM_SELECTOR and PORTAL_DKIM_KEY_FILE go together"},
		{"fallback", "PORTAL_DELIVERY_FALLBACK_AFTER", "soon", "PORTAL_DELIVERY_FALLBACK_AFTER must be a positive duration"},
		{"rescue too short", "PORTAL_JOB_RESCUE_AFTER", "1s", "PORTAL_JOB_RESCUE_AFTER must be between 4s and 24h0m0s"},
		{"rescue not a duration", "PORTAL_JOB_RESCUE_AFTER", "soon", "PORTAL_JOB_RESCUE_AFTER must be a positive duration"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			m[tc.key] = tc.value
			_, err := Load(env(m))
			if err == nil {
				t.Fatalf("Load accepted %s=%q", tc.key, tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadNeverEchoesDatabasePassword(t *testing.T) {
	m := valid()
	m["PORTAL_DATABASE_URL"] = "mysql://user:hunter2hunter2@db/x"
	_, err := Load(env(m))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must exist and not contain the password: %v", err)
	}
}

func TestLoadReportsEveryProblemAtOnce(t *testing.T) {
	_, err := Load(env(map[string]string{"PORTAL_SESSION_IDLE": "x", "PORTAL_LOG_LEVEL": "loud"}))
	for _, want := range []string{"PORTAL_DATABASE_URL", "PORTAL_SESSION_IDLE", "PORTAL_LOG_LEVEL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestHTTPSBaseURLAsksForSecureCookies(t *testing.T) {
	m := valid()
	m["PORTAL_BASE_URL"] = "https://secure.example.org/"
	c, err := Load(env(m))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SecureCookies() || c.BaseURL.String() != "https://secure.example.org" {
		t.Errorf("secure=%v base=%s", c.SecureCookies(), c.BaseURL)
	}
}
