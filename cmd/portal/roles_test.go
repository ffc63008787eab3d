package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/healthnet/secureportal/internal/pgtest"
)

// Served as a restricted role, with PORTAL_MIGRATE_DATABASE_URL migrating
// as the owner, the portal works end to end, and SQL run as the portal
// cannot rewrite the audit log: not with UPDATE, DELETE or TRUNCATE, and
// not by disabling the append-only trigger first.
func TestServeAsARestrictedRoleThatCannotRewriteTheAuditLog(t *testing.T) {
	ownerURL := pgtest.NewEmpty(t)
	appURL := pgtest.NewRole(t, ownerURL)
	env := map[string]string{
		"PORTAL_DATABASE_URL":         appURL,
		"PORTAL_MIGRATE_DATABASE_URL": ownerURL,
		"PORTAL_ORG_NAME":             "Health Net",
	}
	addKeyring(t, env)
	const pw = "granite meadow lighthouse echoes"
	typedOnStdin(t, pw+"\n")
	args := []string{"user", "create", "--email", "dr@clinic.example", "--name", "Dr Lopez", "--role", "provider", "--password-stdin"}
	if err := run(context.Background(), args, func(k string) string { return env[k] }, io.Discard, io.Discard); err != nil {
		t.Fatalf("user create as the restricted role: %v", err)
	}

	addr, logs, stop := startServe(t, env)
	res, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/readyz = %d", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/login",
		strings.NewReader(url.Values{"email": {"dr@clinic.example"}, "password": {pw}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err = client.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in as the restricted role: %d, want 303", res.StatusCode)
	}
	stop()
	if l := logs.String(); strings.Contains(l, "could rewrite the audit log") || strings.Contains(l, "could disable") ||
		!strings.Contains(l, "database privileges granted") {
		t.Errorf("logs of a restricted-role start:\n%s", l)
	}

	app := pgtest.NewPoolFor(t, appURL)
	ctx := context.Background()
	var events int
	if err := app.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&events); err != nil || events < 2 {
		t.Errorf("audit events written as the restricted role: %d (%v)", events, err)
	}
	for _, stmt := range []string{
		`UPDATE audit_events SET action = 'nothing.happened'`,
		`DELETE FROM audit_events`,
		`TRUNCATE audit_events`,
		`ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update`,
		`DROP TABLE audit_events`,
	} {
		_, err := app.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s as the portal's role: %v, want insufficient_privilege (42501)", stmt, err)
		}
	}
}
