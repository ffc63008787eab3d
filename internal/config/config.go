// Package config loads the portal's configuration from the environment once, at
// start-up, and validates it. The resulting Config is passed down explicitly;
// nothing in the portal reads the environment after this.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is everything the portal needs to know about its deployment.
type Config struct {
	DatabaseURL string
	// MigrateDatabaseURL, when set, is the role that owns the schema: it
	// migrates and grants DatabaseURL's role only what serving needs
	// (see postgres.GrantAppRole). Empty: DatabaseURL's role does both.
	MigrateDatabaseURL string
	Addr               string
	BaseURL            *url.URL
	MetricsAddr        string // empty: no metrics listener

	SMTP     SMTP
	MailFrom string

	KeyringPath string
	// KEK says where the key-encryption keys are: the keyring file, or an
	// HSM (PORTAL_KEK_PROVIDER).
	KEK KEK
	// Blobs says where attachment streams go (PORTAL_BLOB_URL).
	Blobs Blobs

	TLSCert string
	TLSKey  string

	TrustedProxies []netip.Prefix

	SessionIdle     time.Duration
	SessionLifetime time.Duration

	Org Org

	// Location is the time zone pages show times in (PORTAL_TIMEZONE).
	Location *time.Location

	LogFormat string // "json" or "text"
	LogLevel  string // debug, info, warn, error

	Accounts Accounts
	Uploads  Uploads
	Delivery Delivery
	Limits   Limits
	// JobRescueAfter is how long a job may stay running before River runs
	// it again (PORTAL_JOB_RESCUE_AFTER; a crashed process's jobs).
	JobRescueAfter time.Duration
	// Retention is how long a thread's content is kept after its last
	// message; then the purge job crypto-shreds it. Zero keeps it forever.
	Retention time.Duration
	// NotOpenedAfter is when the staff list flags a message waiting in the
	// portal that the provider has not opened.
	NotOpenedAfter time.Duration
	// SearchTime bounds the work of one search request: past it, the page
	// shows what was found so far and offers to search older threads.
	SearchTime time.Duration

	// MaxFormBytes bounds request bodies that are not uploads.
	MaxFormBytes int64
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// after SIGTERM before the server gives up on them.
	ShutdownTimeout time.Duration
	// DrainDelay is how long a stopping instance keeps serving while
	// /readyz already says 503, so that a load balancer's health check
	// moves new requests elsewhere before the listener closes (0: close
	// at once, for a single instance).
	DrainDelay time.Duration
}

// Org is the organisation's public identity: shown in the layout, the help
// page and emails. Never hard-coded in templates.
type Org struct {
	Name     string
	Contacts []Contact
}

// Contact is one way to reach the organisation, e.g. a county's Provider
// Services line.
type Contact struct {
	Label string
	Kind  string // "tel", "fax", "mailto" or "https"
	Value string
}

// Accounts holds the knobs of sign-in and emailed links (DESIGN.md §6).
type Accounts struct {
	RegistrationTTL  time.Duration
	ResetTTL         time.Duration
	LockoutThreshold int           // consecutive failures before a temporary lock
	LockoutDuration  time.Duration // how long that lock lasts
	// MaxHashes is how many argon2id computations may run at once. It
	// defaults to the cores the process may use: each hash keeps one core
	// busy, so more in flight only share the cores (and the CPU caches)
	// and add latency and 19 MiB each (docs/PERFORMANCE.md, "Sign-in").
	MaxHashes int
	// AdminReauth is how long admin pages stay usable without admin
	// activity before the password is asked for again.
	AdminReauth time.Duration
	// MFAStaff ("required" or "optional") and MFAProvider ("off",
	// "optional" or "required") rule the second factor; admins follow staff.
	MFAStaff    string
	MFAProvider string
	// RatePerMinute is how many login, forgot-password and link requests one
	// client IP may make per minute before getting 429.
	RatePerMinute int
}

// Uploads bounds the attachments of one message; enforced while streaming.
type Uploads struct {
	MaxFileBytes    int64
	MaxFiles        int
	MaxMessageBytes int64
	// SpoolDir is where files wait, encrypted under a key held only in
	// memory, while their request arrives ("" is the system's temporary
	// directory). Needs room for MaxMessageBytes per upload in progress.
	SpoolDir string
}

// SMTP describes the outgoing mail server parsed from PORTAL_SMTP_URL.
type SMTP struct {
	Host     string
	Port     int
	Username string
	Password string
	TLS      string // "none", "starttls" or "tls"
}

// SecureCookies reports whether session cookies must carry the Secure flag and
// the __Host- prefix: whenever the public base URL is https.
func (c *Config) SecureCookies() bool { return c.BaseURL.Scheme == "https" }

// ServesTLS reports whether the portal terminates TLS itself.
func (c *Config) ServesTLS() bool { return c.TLSCert != "" }

// Getenv is the signature of os.Getenv; tests pass a map lookup instead.
type Getenv func(string) string

// Load reads the configuration from getenv and validates it. Every problem is
// reported, each naming the variable and what is wrong with it.
func Load(getenv Getenv) (*Config, error) {
	l := loader{getenv: getenv}
	c := &Config{
		DatabaseURL:        l.secret("PORTAL_DATABASE_URL", ""),
		MigrateDatabaseURL: l.secret("PORTAL_MIGRATE_DATABASE_URL", ""),
		Addr:               l.str("PORTAL_ADDR", ":8080"),
		// Off unless set: an empty value and an unset one cannot be told
		// apart, and a listener nobody asked for is one more open port.
		MetricsAddr:     l.str("PORTAL_METRICS_ADDR", ""),
		MailFrom:        l.str("PORTAL_MAIL_FROM", "Secure Messaging <no-reply@localhost>"),
		KeyringPath:     KeyringPath(getenv),
		TLSCert:         l.str("PORTAL_TLS_CERT", ""),
		TLSKey:          l.str("PORTAL_TLS_KEY", ""),
		SessionIdle:     l.duration("PORTAL_SESSION_IDLE", 15*time.Minute),
		SessionLifetime: l.duration("PORTAL_SESSION_LIFETIME", 12*time.Hour),
		LogFormat:       l.oneOf("PORTAL_LOG_FORMAT", "json", "json", "text"),
		LogLevel:        l.oneOf("PORTAL_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		MaxFormBytes:    l.bytes("PORTAL_MAX_FORM_BYTES", 1<<20),
		ShutdownTimeout: l.duration("PORTAL_SHUTDOWN_TIMEOUT", 20*time.Second),
		DrainDelay:      l.duration("PORTAL_DRAIN_DELAY", 0),
		Accounts: Accounts{
			RegistrationTTL:  l.duration("PORTAL_REGISTRATION_TTL", 72*time.Hour),
			ResetTTL:         l.duration("PORTAL_RESET_TTL", 30*time.Minute),
			LockoutThreshold: l.count("PORTAL_LOCKOUT_THRESHOLD", 10),
			LockoutDuration:  l.duration("PORTAL_LOCKOUT_DURATION", 15*time.Minute),
			MaxHashes:        l.count("PORTAL_MAX_CONCURRENT_HASHES", runtime.GOMAXPROCS(0)),
			RatePerMinute:    l.count("PORTAL_RATE_LIMIT_PER_MINUTE", 20),
			AdminReauth:      l.duration("PORTAL_ADMIN_REAUTH", 10*time.Minute),
			MFAStaff:         l.oneOf("PORTAL_MFA_STAFF", "required", "required", "optional"),
			MFAProvider:      l.oneOf("PORTAL_MFA_PROVIDER", "optional", "off", "optional", "required"),
		},
		Uploads: Uploads{
			MaxFileBytes:    l.bytes("PORTAL_MAX_FILE_BYTES", 25<<20),
			MaxFiles:        l.count("PORTAL_MAX_FILES", 10),
			MaxMessageBytes: l.bytes("PORTAL_MAX_MESSAGE_BYTES", 50<<20),
			SpoolDir:        l.dir("PORTAL_UPLOAD_DIR"),
		},
		Org: Org{
			Name:     l.str("PORTAL_ORG_NAME", "Health Plan"),
			Contacts: l.contacts("PORTAL_ORG_CONTACTS"),
		},
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = l.secret("DATABASE_URL", "")
	}
	if c.DatabaseURL == "" {
		l.fail("PORTAL_DATABASE_URL", "is required (a postgres:// URL; DATABASE_URL is also accepted)")
	} else {
		l.checkPostgresURL("PORTAL_DATABASE_URL", c.DatabaseURL)
	}
	if c.MigrateDatabaseURL != "" {
		l.checkPostgresURL("PORTAL_MIGRATE_DATABASE_URL", c.MigrateDatabaseURL)
	}
	c.BaseURL = l.baseURL("PORTAL_BASE_URL", "http://localhost:8080")
	c.Delivery = l.delivery(c)
	c.SMTP = l.smtp("PORTAL_SMTP_URL", "smtp://127.0.0.1:1025?tls=none")
	c.TrustedProxies = l.prefixes("PORTAL_TRUSTED_PROXIES")
	c.Location = l.location("PORTAL_TIMEZONE", "UTC")
	c.Retention = l.duration("PORTAL_RETENTION", 0) // 0: keep forever
	c.NotOpenedAfter = l.duration("PORTAL_NOT_OPENED_AFTER", 72*time.Hour)
	c.SearchTime = l.duration("PORTAL_SEARCH_TIME_LIMIT", 2*time.Second)
	c.JobRescueAfter = l.jobRescueAfter()
	c.Limits = l.limits()

	l.checkAddr("PORTAL_ADDR", c.Addr)
	if c.MetricsAddr != "" {
		l.checkAddr("PORTAL_METRICS_ADDR", c.MetricsAddr)
		if c.MetricsAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			l.fail("PORTAL_METRICS_ADDR", "must differ from PORTAL_ADDR: metrics stay off the public port")
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		l.fail("PORTAL_MAIL_FROM", "must be an email address, optionally with a name (\"Name <addr@example.org>\")")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		l.fail("PORTAL_TLS_CERT", "and PORTAL_TLS_KEY must be set together")
	}
	if c.SessionIdle > c.SessionLifetime && c.SessionLifetime > 0 {
		l.fail("PORTAL_SESSION_IDLE", "must not be longer than PORTAL_SESSION_LIFETIME")
	}
	if strings.TrimSpace(c.Org.Name) == "" {
		l.fail("PORTAL_ORG_NAME", "must not be empty")
	}
	c.KEK = l.kek()
	c.Blobs = l.blobs()
	if err := errors.Join(l.errs...); err != nil {
		return nil, err
	}
	return c, nil
}

// KeyringPath is PORTAL_KEYRING or its default. Key commands that only touch
// the keyring file (`portal keys init`, `rotate`) need nothing else, not even
// a database.
func KeyringPath(getenv Getenv) string {
	if v := strings.TrimSpace(getenv("PORTAL_KEYRING")); v != "" {
		return v
	}
	return "portal.keyring"
}

// KEK is where the key-encryption keys are.
type KEK struct {
	// Provider is "keyring" (the file at PORTAL_KEYRING) or "pkcs11" (keys
	// on an HSM token; the keyring file, if it exists, is still read for
	// the versions the token lacks while data keys move to the token).
	Provider string
	// PKCS11 names the token (PORTAL_PKCS11_MODULE, _TOKEN_LABEL,
	// _PIN_FILE, _KEY_LABEL); only with Provider "pkcs11".
	PKCS11Module, PKCS11TokenLabel, PKCS11PINFile, PKCS11KeyLabel string
}

// Blobs is where attachment streams are stored.
type Blobs struct {
	// URL is "postgres" (data_chunks rows, the default) or
	// s3://BUCKET?endpoint=http://HOST:PORT&region=REGION.
	URL string
	// AccessKey and SecretKey are AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (or their _FILE forms), for s3:// only.
	AccessKey, SecretKey string
}

// InBucket reports whether streams go to object storage.
func (b Blobs) InBucket() bool { return b.URL != "postgres" }

func (l *loader) blobs() Blobs {
	b := Blobs{URL: l.str("PORTAL_BLOB_URL", "postgres")}
	if !b.InBucket() {
		return b
	}
	if !strings.HasPrefix(b.URL, "s3://") {
		l.fail("PORTAL_BLOB_URL", "must be postgres or s3://BUCKET?endpoint=http://HOST:PORT&region=REGION (got %q)", b.URL)
		return b
	}
	b.AccessKey = l.secret("AWS_ACCESS_KEY_ID", "")
	b.SecretKey = l.secret("AWS_SECRET_ACCESS_KEY", "")
	if b.AccessKey == "" || b.SecretKey == "" {
		l.fail("PORTAL_BLOB_URL", "is s3://: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_ACCESS_KEY_ID_FILE and AWS_SECRET_ACCESS_KEY_FILE)")
	}
	return b
}

// KEKSettings reads PORTAL_KEK_PROVIDER and PORTAL_PKCS11_*. Key commands
// use it without the rest of the configuration, as KeyringPath.
func KEKSettings(getenv Getenv) (KEK, error) {
	l := loader{getenv: getenv}
	k := l.kek()
	return k, errors.Join(l.errs...)
}

func (l *loader) kek() KEK {
	k := KEK{
		Provider:         l.oneOf("PORTAL_KEK_PROVIDER", "keyring", "keyring", "pkcs11"),
		PKCS11Module:     l.str("PORTAL_PKCS11_MODULE", ""),
		PKCS11TokenLabel: l.str("PORTAL_PKCS11_TOKEN_LABEL", ""),
		PKCS11PINFile:    l.str("PORTAL_PKCS11_PIN_FILE", ""),
		PKCS11KeyLabel:   l.str("PORTAL_PKCS11_KEY_LABEL", "secureportal-kek"),
	}
	if k.Provider == "pkcs11" {
		for _, v := range [][2]string{{"PORTAL_PKCS11_MODULE", k.PKCS11Module},
			{"PORTAL_PKCS11_TOKEN_LABEL", k.PKCS11TokenLabel}, {"PORTAL_PKCS11_PIN_FILE", k.PKCS11PINFile}} {
			if v[1] == "" {
				l.fail(v[0], "is required with PORTAL_KEK_PROVIDER=pkcs11")
			}
		}
	}
	return k
}

// loader accumulates errors so that one start-up reports every bad variable.
type loader struct {
	getenv Getenv
	errs   []error
}

func (l *loader) fail(name, format string, args ...any) {
	l.errs = append(l.errs, fmt.Errorf("config: %s %s", name, fmt.Sprintf(format, args...)))
}

func (l *loader) str(name, def string) string {
	if v := strings.TrimSpace(l.getenv(name)); v != "" {
		return v
	}
	return def
}

// secret reads NAME, or the contents of the file named by NAME_FILE, so that
// secrets can come from mounted files instead of the process environment.
func (l *loader) secret(name, def string) string {
	v, file := l.getenv(name), l.getenv(name+"_FILE")
	switch {
	case v != "" && file != "":
		l.fail(name, "and %s_FILE are both set; set only one", name)
		return ""
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			l.fail(name+"_FILE", "cannot be read: %v", err)
			return ""
		}
		return strings.TrimSpace(string(b))
	case v != "":
		return strings.TrimSpace(v)
	}
	return def
}

func (l *loader) oneOf(name, def string, allowed ...string) string {
	v := strings.ToLower(l.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.fail(name, "must be one of %s (got %q)", strings.Join(allowed, ", "), v)
	return def
}

func (l *loader) duration(name string, def time.Duration) time.Duration {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		l.fail(name, "must be a positive duration such as 15m or 12h (got %q)", v)
		return def
	}
	return d
}

func (l *loader) count(name string, def int) int {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		l.fail(name, "must be a positive whole number (got %q)", v)
		return def
	}
	return n
}

func (l *loader) bytes(name string, def int64) int64 {
	v := l.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		l.fail(name, "must be a positive number of bytes (got %q)", v)
		return def
	}
	return n
}

func (l *loader) checkPostgresURL(name, v string) {
	if u, err := url.Parse(v); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		// The URL may hold a password: never echo it.
		l.fail(name, "must be a postgres:// or postgresql:// URL")
	}
}

// dir reads an optional directory, which must exist when set.
func (l *loader) dir(name string) string {
	v := l.str(name, "")
	if v == "" {
		return ""
	}
	if fi, err := os.Stat(v); err != nil || !fi.IsDir() {
		l.fail(name, "must be an existing directory (got %q)", v)
	}
	return v
}

func (l *loader) location(name, def string) *time.Location {
	v := l.str(name, def)
	loc, err := time.LoadLocation(v)
	if err != nil {
		l.fail(name, "must be an IANA time zone such as America/Los_Angeles (got %q)", v)
		return time.UTC
	}
	return loc
}

func (l *loader) checkAddr(name, addr string) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		l.fail(name, "must be host:port or :port (got %q)", addr)
	}
}

func (l *loader) baseURL(name, def string) *url.URL {
	v := strings.TrimRight(l.str(name, def), "/")
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		l.fail(name, "must be an absolute http:// or https:// URL such as https://secure.example.org (got %q)", v)
		u, _ = url.Parse(def)
		return u
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		l.fail(name, "must not carry a query, fragment or credentials")
	}
	return u
}

func (l *loader) smtp(name, def string) SMTP {
	v := l.secret(name, def)
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "smtp" || u.Hostname() == "" {
		l.fail(name, "must look like smtp://user:pass@host:port?tls=none|starttls|tls")
		return SMTP{}
	}
	s := SMTP{Host: u.Hostname(), TLS: u.Query().Get("tls")}
	if s.TLS == "" {
		s.TLS = "starttls"
	}
	if s.TLS != "none" && s.TLS != "starttls" && s.TLS != "tls" {
		l.fail(name, "has tls=%q; use none, starttls or tls", s.TLS)
	}
	s.Port = 587
	if s.TLS == "tls" {
		s.Port = 465
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			l.fail(name, "has an invalid port %q", p)
		}
		s.Port = n
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	return s
}

// prefixes parses a comma-separated list of IP addresses and CIDR ranges of
// the reverse proxies whose X-Forwarded-For we believe.
func (l *loader) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, f := range strings.Split(l.getenv(name), ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			l.fail(name, "has %q, which is neither an IP address nor a CIDR range", f)
			continue
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out
}

// contacts parses "Label=kind:value;Label=kind:value", e.g.
// "Provider Services – Los Angeles County=tel:1-855-464-3571".
func (l *loader) contacts(name string) []Contact {
	var out []Contact
	for _, f := range strings.Split(l.getenv(name), ";") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		label, rest, ok := strings.Cut(f, "=")
		kind, value, ok2 := strings.Cut(rest, ":")
		label, kind = strings.TrimSpace(label), strings.TrimSpace(kind)
		value = strings.TrimPrefix(strings.TrimSpace(value), "//")
		if !ok || !ok2 || label == "" || value == "" {
			l.fail(name, "entry %q must look like Label=tel:1-800-555-0100", f)
			continue
		}
		switch kind {
		case "tel", "fax", "mailto", "https":
		default:
			l.fail(name, "entry %q has kind %q; use tel, fax, mailto or https", f, kind)
			continue
		}
		out = append(out, Contact{Label: label, Kind: kind, Value: value})
	}
	return out
}
