package postgres_test

import (
	"io"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/messaging"
	"github.com/healthnet/secureportal/internal/postgres"
)

// An admin's policy is stored with its reason and audited in the same
// transaction; the domains list joins it with the latest check.
func TestDomainPolicyIsAuditedAndListedWithItsCheck(t *testing.T) {
	f := newStoreFixture(t)
	store := postgres.NewDeliveryStore(f.pool)
	admin := f.user(accounts.RoleAdmin, accounts.StatusActive)
	if p, err := store.DomainPolicy(f.ctx, "clinic.test"); err != nil || p != "" {
		t.Fatalf("policy of an unknown domain = %q, %v; want none", p, err)
	}
	if err := store.SetDomainPolicy(f.ctx, admin.ID, "192.0.2.1", "clinic.test", delivery.PolicyTLSRequired, "clinic asked"); err != nil {
		t.Fatal(err)
	}
	if err := store.SetDomainPolicy(f.ctx, admin.ID, "192.0.2.1", "clinic.test", delivery.PolicyPortal, "consumer mail"); err != nil {
		t.Fatal(err)
	}
	if p, _ := store.DomainPolicy(f.ctx, "CLINIC.test"); p != delivery.PolicyPortal {
		t.Errorf("policy = %q, want the latest (portal), matched case-insensitively", p)
	}
	audited := f.column(`SELECT detail->>'previous' || '>' || (detail->>'policy') FROM audit_events
		WHERE action = 'admin.domain_policy_set' AND target_id = 'clinic.test' ORDER BY id`)
	if len(audited) != 2 || audited[0] != ">tls-required" || audited[1] != "tls-required>portal" {
		t.Errorf("audit trail of the policy = %v", audited)
	}
	checked := delivery.Decision{Domain: "other.test", Method: delivery.MethodTLS, Reason: "verified", CheckedAt: time.Now().UTC().Truncate(time.Millisecond)}
	checked.ExpiresAt = checked.CheckedAt.Add(time.Hour)
	if err := store.StoreDecision(f.ctx, checked); err != nil {
		t.Fatal(err)
	}
	rows, err := store.Domains(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Domain != "clinic.test" || rows[0].Policy != delivery.PolicyPortal || rows[0].Check != nil ||
		rows[1].Domain != "other.test" || rows[1].Policy != "" || rows[1].Check == nil || rows[1].Check.Reason != "verified" {
		t.Errorf("domains = %+v", rows)
	}
}

// Cached checks and MTA-STS policies come back as stored (the router and
// the MTA-STS rules depend on their times).
func TestDeliveryCachesRoundTrip(t *testing.T) {
	f := newStoreFixture(t)
	store := postgres.NewDeliveryStore(f.pool)
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := delivery.Decision{Domain: "clinic.test", Method: delivery.MethodPortal, Reason: "no STARTTLS", NotifyAllowed: true,
		Steps: []delivery.Step{{Name: "STARTTLS", Detail: "mx offered no STARTTLS"}}, CheckedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
	if err := store.StoreDecision(f.ctx, d); err != nil {
		t.Fatal(err)
	}
	got, ok, err := store.CachedDecision(f.ctx, "clinic.test")
	if err != nil || !ok || got.Reason != d.Reason || !got.ExpiresAt.Equal(d.ExpiresAt) || len(got.Steps) != 1 || !got.NotifyAllowed {
		t.Errorf("cached decision = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := store.CachedDecision(f.ctx, "never.test"); ok {
		t.Error("a domain never checked has a cached decision")
	}
	p := delivery.MTASTSPolicy{ID: "20261201", Mode: delivery.MTASTSEnforce, MX: []string{"*.clinic.test"}, MaxAge: 24 * time.Hour, FetchedAt: now}
	if err := store.StoreMTASTS(f.ctx, "clinic.test", p); err != nil {
		t.Fatal(err)
	}
	gotP, ok, err := store.CachedMTASTS(f.ctx, "clinic.test")
	if err != nil || !ok || gotP.Mode != p.Mode || gotP.MaxAge != p.MaxAge || !gotP.AllowsMX("mx.clinic.test") {
		t.Errorf("cached MTA-STS policy = %+v, %v, %v", gotP, ok, err)
	}
}

// A delivery record is one per message and recipient (a retry replaces
// it), audited, shown to staff on the thread and never to the provider.
func TestDeliveryRecordsShowToStaffOnly(t *testing.T) {
	f := newStoreFixture(t)
	store := postgres.NewDeliveryStore(f.pool)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	thread := f.threadToProvider(rep, dr, "Claim 123")
	msg := f.messageIDs(thread)[0]
	if _, done, err := store.DeliveryOf(f.ctx, msg, dr.ID); err != nil || done {
		t.Fatalf("delivery before the job ran: %v %v", done, err)
	}
	for _, d := range []messaging.Delivery{
		{Method: "portal", Notified: true, Reason: "mx offered no STARTTLS"},
		{Method: "tls", Reason: "verified", MX: "mx.clinic.test", TLSVersion: "TLS 1.3", VerifiedBy: "certificate"},
	} {
		d.MessageID, d.RecipientID, d.At = msg, dr.ID, time.Now()
		if err := store.RecordDelivery(f.ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, done, err := store.DeliveryOf(f.ctx, msg, dr.ID)
	if err != nil || !done || got.Method != "tls" || got.MX != "mx.clinic.test" {
		t.Errorf("delivery after a retry = %+v %v %v; want the latest (tls)", got, done, err)
	}
	if n := f.column(`SELECT count(*)::text FROM audit_events WHERE action = 'message.delivery_recorded' AND target_id = $1`, msg); n[0] != "2" {
		t.Errorf("%s audit events for two recordings", n[0])
	}
	if ds := f.read(asStaff(rep), thread).Messages[0].Deliveries; len(ds) != 1 || ds[0].TLSVersion != "TLS 1.3" {
		t.Errorf("staff see deliveries %+v", ds)
	}
	if ds := f.read(asProvider(dr), thread).Messages[0].Deliveries; len(ds) != 0 {
		t.Errorf("the provider sees delivery records: %+v", ds)
	}
}

// The TLS delivery reads the whole message (subject, body, file names and
// bytes), and nothing of a recalled one; a recall also closes the thread's
// reply addresses.
func TestOutgoingMessageIsWholeAndRecalledOnesAreWithdrawn(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	thread := f.threadToProvider(rep, dr, "Lab results", "report.pdf")
	msg := f.messageIDs(thread)[0]
	out, err := f.messages.Outgoing(f.ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if out.ThreadID != thread || out.Subject != "Lab results" || out.Body != "body of Lab results" || len(out.Attachments) != 1 || out.Attachments[0].Name != "report.pdf" {
		t.Fatalf("outgoing = %+v", out)
	}
	r, err := f.messages.OpenAttachmentForDelivery(f.ctx, out.Attachments[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	data, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(data) != "contents of report.pdf" {
		t.Fatalf("attachment bytes %q, %v", data, err)
	}
	replies := postgres.NewReplyTokens(f.pool)
	token, err := replies.MintReplyToken(f.ctx, thread)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.messages.Recall(f.ctx, asStaff(rep), msg); err != nil {
		t.Fatal(err)
	}
	if _, err := replies.ReplyTarget(f.ctx, token); err == nil {
		t.Error("the thread's reply address still works after a recall")
	}
	if _, err := f.messages.Outgoing(f.ctx, msg); err == nil {
		t.Error("a recalled message can still be read for delivery")
	}
	if _, err := f.messages.OpenAttachmentForDelivery(f.ctx, out.Attachments[0].ID); err == nil {
		t.Error("a recalled message's attachment can still be read for delivery")
	}
}

// A delivery record and its audit event are one transaction (sent as one
// batch, so the audit chain's lock is not held across a round trip): when
// the audit append fails, no record is left unaudited.
func TestADeliveryRecordIsNeverStoredWithoutItsAuditEvent(t *testing.T) {
	f := newStoreFixture(t)
	store := postgres.NewDeliveryStore(f.pool)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	msg := f.messageIDs(f.threadToProvider(rep, dr, "Claim 123"))[0]
	if _, err := f.pool.Exec(f.ctx, `
		CREATE FUNCTION refuse_marked_audit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.detail->>'reason' = 'refuse the audit' THEN RAISE EXCEPTION 'audit refused by the test'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_marked_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_marked_audit()`); err != nil {
		t.Fatal(err)
	}
	err := store.RecordDelivery(f.ctx, messaging.Delivery{MessageID: msg, RecipientID: dr.ID, Method: "portal", Reason: "refuse the audit", At: time.Now()})
	if err == nil {
		t.Fatal("RecordDelivery succeeded although its audit event was refused")
	}
	if _, done, err := store.DeliveryOf(f.ctx, msg, dr.ID); err != nil || done {
		t.Errorf("a delivery record was stored without its audit event (done %v, %v)", done, err)
	}
	if err := store.RecordDelivery(f.ctx, messaging.Delivery{MessageID: msg, RecipientID: dr.ID, Method: "portal", Reason: "fine", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, done, err := store.DeliveryOf(f.ctx, msg, dr.ID); err != nil || !done {
		t.Errorf("a recording with its audit event is not stored (done %v, %v)", done, err)
	}
}

// Opening a thread records as read what the page showed, each receipt
// with its audit event, chained: a message that arrives between reading
// the page and writing the receipts (given here as the ids the page did
// not show) stays unread; a second opening writes nothing.
func TestOpeningAThreadMarksReadOnlyWhatItShowed(t *testing.T) {
	f := newStoreFixture(t)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	thread := f.threadToProvider(rep, dr, "Claim 123")
	f.reply(asStaff(rep), thread, "a second message")
	ids := f.messageIDs(thread)
	if len(ids) != 2 {
		t.Fatalf("%d messages, want 2", len(ids))
	}
	n, err := f.messages.MarkRead(f.ctx, asProvider(dr), thread, ids[:1])
	if err != nil || n != 1 {
		t.Fatalf("MarkRead of the one shown: %d, %v", n, err)
	}
	readBy := func() []string {
		return f.column(`SELECT message_id::text FROM message_reads WHERE user_id = $1 ORDER BY message_id`, dr.ID)
	}
	if got := readBy(); len(got) != 1 || got[0] != ids[0] {
		t.Errorf("receipts %v, want only the message shown (%s)", got, ids[0])
	}
	f.read(asProvider(dr), thread) // the page now shows both
	if got := readBy(); len(got) != 2 {
		t.Errorf("receipts after opening the thread %v, want both messages", got)
	}
	f.read(asProvider(dr), thread)
	if got := f.column(`SELECT count(*)::text FROM audit_events WHERE action = 'message.read' AND actor_id = $1`, dr.ID); got[0] != "2" {
		t.Errorf("%s read events, want one per message (none for a second opening)", got[0])
	}
	if _, brk, err := postgres.VerifyAudit(f.ctx, f.pool); err != nil || brk != nil {
		t.Errorf("audit chain after the receipts: %+v, %v", brk, err)
	}
}

// A delivery record commits without waiting for the disk (the job's
// completion, which waits, makes it durable), but only that transaction:
// the connection goes back to the pool committing durably, or every later
// write on it (a message, a password change) could be lost in a crash
// after the portal said it was saved.
func TestADeliveryRecordLeavesItsConnectionCommittingDurably(t *testing.T) {
	f := newStoreFixture(t)
	cfg := f.pool.Config()
	cfg.MaxConns = 1 // the record's connection is the one asked afterwards
	one, err := pgxpool.NewWithConfig(f.ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(one.Close)
	rep := f.user(accounts.RoleStaff, accounts.StatusActive)
	dr := f.user(accounts.RoleProvider, accounts.StatusActive)
	msg := f.messageIDs(f.threadToProvider(rep, dr, "Claim 123"))[0]
	if err := postgres.NewDeliveryStore(one).RecordDelivery(f.ctx, messaging.Delivery{MessageID: msg, RecipientID: dr.ID,
		Method: "portal", Reason: "every message waits in the portal", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := one.QueryRow(f.ctx, `SHOW synchronous_commit`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "on" {
		t.Errorf("after a delivery record its connection commits with synchronous_commit = %s, want on", mode)
	}
	if audited := f.column(`SELECT target_id FROM audit_events WHERE action = 'message.delivery_recorded'`); len(audited) != 1 || audited[0] != msg {
		t.Errorf("delivery audit events %v, want the one recorded", audited)
	}
}
