package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/healthnet/secureportal/app"
	"github.com/healthnet/secureportal/internal/config"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/mailcatcher"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/pgtest"
)

// A seeded population is one the portal reads as its own, and the load tool
// drives the assembled portal through every scenario without an error.
// (Small, so CI runs it: the tool cannot rot.)
func TestSeededPortalOpensEverythingAndCarriesTheMix(t *testing.T) {
	ctx := context.Background()
	dbURL := pgtest.New(t)
	keyringPath := filepath.Join(t.TempDir(), "portal.keyring")
	keyring, err := envelope.InitKeyring(keyringPath)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := mailcatcher.StartWithOptions("127.0.0.1:0", mailcatcher.Options{Capacity: 5000})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	env := map[string]string{"PORTAL_DATABASE_URL": dbURL, "PORTAL_KEYRING": keyringPath,
		"PORTAL_BASE_URL": "http://127.0.0.1", "PORTAL_RATE_LIMIT_PER_MINUTE": "1000000",
		"PORTAL_SMTP_URL": "smtp://" + sink.Addr() + "?tls=none",
		// As bench runs the portal: representatives sign in with the password.
		"PORTAL_MFA_STAFF": "optional"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	pool := pgtest.NewPoolFor(t, dbURL)
	pop := population{Providers: 50, Staff: 10, Teams: 2, Threads: 100, Messages: 500, Attachments: 0.1, Seed: 1}
	var out bytes.Buffer
	if err := seed(ctx, pool, keyring, pop, seedOptions{sealers: 2, writers: 2, threadsPerBatch: 30}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if err := seed(ctx, pool, keyring, pop, seedOptions{sealers: 1, writers: 1, threadsPerBatch: 30}, io.Discard); err == nil {
		t.Error("a second seed of the same database was not refused")
	}

	a, err := app.New(cfg, slog.New(slog.DiscardHandler), pool, keyring, app.Options{})
	if err != nil {
		t.Fatal(err)
	}
	checkSeededAttachmentOpens(t, a)

	web := httptest.NewServer(a.Web.Handler())
	defer web.Close()
	metrics := httptest.NewServer(a.Metrics.Handler())
	defer metrics.Close()
	m, err := parseMix(defaultMix)
	if err != nil {
		t.Fatal(err)
	}
	d, err := newDriver(ctx, pool, web.URL, 4, 2*time.Second, m)
	if err != nil {
		t.Fatal(err)
	}
	f, err := measureFloors(ctx, portalDB{pool: pool, keyring: keyring}, m)
	if err != nil {
		t.Fatal(err)
	}
	// search-bench's floor opens every seeded subject, body and file name
	// (any record that does not open is an error).
	if _, _, err := decryptionFloors(ctx, portalDB{pool: pool, keyring: keyring}); err != nil {
		t.Errorf("search floors: %v", err)
	}
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	res, err := measureRun(ctx, d, serverWatch{metricsURL: metrics.URL, profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printTable(&out, []runResult{res}, f)
	t.Log("\n" + out.String())
	for _, s := range scenarios {
		if !res.has(s.name) {
			t.Errorf("no %s request was measured", s.name)
		}
	}
	if err := failures(res); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("no CPU profile of the run written (%v)", err)
	}
	if res.use.peakRSS == 0 {
		t.Error("no RSS read from the metrics listener")
	}

	// A notification burst, sent by the app's own job workers.
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Stop(context.Background())
	notified, err := measureNotifications(ctx, portalDB{pool: pool, keyring: keyring}, sink, 200, 2, serverWatch{})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	printNotifications(&out, notified)
	t.Log(out.String())
	if notified.queued == 0 || notified.delivered != notified.queued || notified.lost != 0 || notified.duplicates != 0 || notified.floorRate == 0 {
		t.Errorf("notification burst: %+v", notified)
	}
}

// checkSeededAttachmentOpens opens, through the portal's own service, the
// thread of a seeded attachment as its provider, and the attachment itself.
func checkSeededAttachmentOpens(t *testing.T, a *app.App) {
	t.Helper()
	ctx := context.Background()
	var attachmentID, threadID string
	var providerID, size int64
	if err := a.Pool.QueryRow(ctx, `SELECT a.id::text, t.id::text, t.provider_id, a.size FROM attachments a
		JOIN messages m ON m.id = a.message_id JOIN threads t ON t.id = m.thread_id LIMIT 1`).Scan(&attachmentID, &threadID, &providerID, &size); err != nil {
		t.Fatal(err)
	}
	v := messaging.Viewer{UserID: providerID, IP: "127.0.0.1"}
	th, err := a.Messages.Thread(ctx, v, threadID)
	if err != nil {
		t.Fatal(err)
	}
	if th.Subject == "" || th.Withdrawn || len(th.Messages) == 0 {
		t.Fatalf("seeded thread reads as subject %q, withdrawn %v, %d messages", th.Subject, th.Withdrawn, len(th.Messages))
	}
	for _, msg := range th.Messages {
		if msg.Body == "" || msg.Withdrawn {
			t.Errorf("seeded message %s reads as %q (withdrawn %v)", msg.ID, msg.Body, msg.Withdrawn)
		}
	}
	att, r, err := a.Messages.OpenAttachment(ctx, v, attachmentID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != size || att.Size != size || !bytes.HasPrefix(data, []byte("%PDF-1.7\n")) || att.ContentType != "application/pdf" {
		t.Errorf("seeded attachment %q (%s) opened as %d bytes of %d", att.Name, att.ContentType, len(data), size)
	}
}
