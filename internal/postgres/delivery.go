package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/delivery"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Audit actions of TLS-first delivery.
const (
	auditDomainPolicySet  audit.Action = "admin.domain_policy_set"
	auditMessageDelivered audit.Action = "message.delivery_recorded"
)

// DeliveryStore keeps what TLS-first delivery decides and does: admins'
// domain policies, the shared cache of domain checks and MTA-STS policies,
// and each message's delivery record. It implements delivery's
// DomainPolicies, DecisionCache and MTASTSCache.
type DeliveryStore struct{ pool *pgxpool.Pool }

// NewDeliveryStore returns the store over pool.
func NewDeliveryStore(pool *pgxpool.Pool) *DeliveryStore { return &DeliveryStore{pool: pool} }

func (s *DeliveryStore) DomainPolicy(ctx context.Context, domain string) (delivery.Policy, error) {
	var p string
	err := s.pool.QueryRow(ctx, `SELECT policy FROM domain_policies WHERE domain = $1`, domain).Scan(&p)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return delivery.Policy(p), wrap("domain policy", err)
}

// SetDomainPolicy records an admin's policy for domain, with the reason, in
// the audit log in the same transaction.
func (s *DeliveryStore) SetDomainPolicy(ctx context.Context, actorID int64, ip, domain string, p delivery.Policy, reason string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var previous string
		err := tx.QueryRow(ctx, `SELECT policy FROM domain_policies WHERE domain = $1`, domain).Scan(&previous)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO domain_policies (domain, policy, reason, updated_by, updated_at) VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (domain) DO UPDATE SET policy = $2, reason = $3, updated_by = $4, updated_at = now()`,
			domain, string(p), reason, actorID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: actorID, Action: auditDomainPolicySet, TargetType: "domain", TargetID: domain, IP: ip,
			Detail: map[string]any{"policy": string(p), "previous": previous, "reason": reason}})
	})
	return wrap("set domain policy", err)
}

func (s *DeliveryStore) CachedDecision(ctx context.Context, domain string) (delivery.Decision, bool, error) {
	var d delivery.Decision
	ok, err := s.cached(ctx, `SELECT decision FROM domain_checks WHERE domain = $1`, domain, &d)
	return d, ok, wrap("cached domain check", err)
}

func (s *DeliveryStore) StoreDecision(ctx context.Context, d delivery.Decision) error {
	return wrap("store domain check", s.store(ctx, `
		INSERT INTO domain_checks (domain, decision, checked_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (domain) DO UPDATE SET decision = $2, checked_at = $3, expires_at = $4`,
		d.Domain, d, d.CheckedAt, d.ExpiresAt))
}

func (s *DeliveryStore) CachedMTASTS(ctx context.Context, domain string) (delivery.MTASTSPolicy, bool, error) {
	var p delivery.MTASTSPolicy
	ok, err := s.cached(ctx, `SELECT policy FROM mta_sts_policies WHERE domain = $1`, domain, &p)
	return p, ok, wrap("cached MTA-STS policy", err)
}

func (s *DeliveryStore) StoreMTASTS(ctx context.Context, domain string, p delivery.MTASTSPolicy) error {
	return wrap("store MTA-STS policy", s.store(ctx, `
		INSERT INTO mta_sts_policies (domain, policy, fetched_at, expires_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (domain) DO UPDATE SET policy = $2, fetched_at = $3, expires_at = $4`,
		domain, p, p.FetchedAt, p.FetchedAt.Add(p.MaxAge)))
}

// cached reads one JSON column into v; ok is false when there is no row.
func (s *DeliveryStore) cached(ctx context.Context, query, domain string, v any) (bool, error) {
	var raw []byte
	err := s.pool.QueryRow(ctx, query, domain).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(raw, v)
}

// store upserts one JSON value with its domain and two times.
func (s *DeliveryStore) store(ctx context.Context, query, domain string, v any, from, until time.Time) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, query, domain, raw, from, until)
	return err
}

// Domains lists every domain with a policy or a check, alphabetically.
func (s *DeliveryStore) Domains(ctx context.Context) ([]delivery.DomainStatus, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT coalesce(p.domain, c.domain)::text, coalesce(p.policy, ''), coalesce(p.reason, ''),
			coalesce(p.updated_at, 'epoch'), c.decision
		FROM domain_policies p FULL JOIN domain_checks c ON c.domain = p.domain
		ORDER BY 1 LIMIT 1000`)
	if err != nil {
		return nil, wrap("domains", err)
	}
	defer rows.Close()
	var out []delivery.DomainStatus
	for rows.Next() {
		var r delivery.DomainStatus
		var raw []byte
		if err := rows.Scan(&r.Domain, &r.Policy, &r.Reason, &r.UpdatedAt, &raw); err != nil {
			return nil, wrap("domains", err)
		}
		if raw != nil {
			r.Check = new(delivery.Decision)
			if err := json.Unmarshal(raw, r.Check); err != nil {
				return nil, wrap("domains", err)
			}
		}
		out = append(out, r)
	}
	return out, wrap("domains", rows.Err())
}

// RecordDelivery stores how a message reached one recipient (replacing an
// earlier record for the same pair, e.g. a fallback after a retry) and
// audits it. The record names mail hosts and TLS versions, never content.
//
// The record and its audit event are one implicit transaction sent in one
// round trip (a pipelined batch), so the audit chain's lock (audit_append)
// is never held while waiting for this client: every audited write is
// serialised on that lock.
//
// For the same reason the transaction commits without waiting for its WAL
// to reach the disk (synchronous_commit off for this transaction only),
// which otherwise keeps the lock through a disk flush per notification
// (docs/PERFORMANCE.md, "Notifications: 500 a second"). It
// loses nothing: WAL is written in order, so the job's completion, which
// the notification worker reaches only after this returns and which waits
// for the disk, makes the record durable too. A crash before that leaves
// the job to run again, which finds the record (or records it again, from
// the send-once mark, without sending a second email).
func (s *DeliveryStore) RecordDelivery(ctx context.Context, d messaging.Delivery) error {
	ev := audit.Event{Action: auditMessageDelivered, TargetType: "message", TargetID: d.MessageID,
		Detail: map[string]any{"recipient_id": d.RecipientID, "method": d.Method, "notified": d.Notified, "reason": d.Reason,
			"mx": d.MX, "tls_version": d.TLSVersion}}
	evArgs, err := auditArgs(ev)
	if err != nil {
		return wrap("record delivery", err)
	}
	batch := &pgx.Batch{}
	batch.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	batch.Queue(`
		INSERT INTO message_deliveries (message_id, recipient_id, method, notified, reason, mx, tls_version, verified_by, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (message_id, recipient_id) DO UPDATE SET method = $3, notified = $4, reason = $5, mx = $6,
			tls_version = $7, verified_by = $8, at = $9`,
		d.MessageID, d.RecipientID, d.Method, d.Notified, d.Reason, d.MX, d.TLSVersion, d.VerifiedBy, d.At)
	batch.Queue(appendAuditSQL, evArgs...)
	return wrap("record delivery", s.pool.SendBatch(ctx, batch).Close())
}

// deliveriesOf returns the delivery records of a thread's messages, by
// message id, for the staff view.
func deliveriesOf(ctx context.Context, q Querier, threadID string) (map[string][]messaging.Delivery, error) {
	rows, err := q.Query(ctx, `SELECT `+deliveryColumns+`
		FROM message_deliveries d JOIN messages m ON m.id = d.message_id
		WHERE m.thread_id = $1 ORDER BY d.at`, threadID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]messaging.Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out[d.MessageID] = append(out[d.MessageID], d)
	}
	return out, rows.Err()
}

// DeliveryOf returns the recorded delivery of a message to a recipient, if
// any: a retried job that finds one does not deliver twice (a replanned
// lookup: the table starts empty on a new install).
func (s *DeliveryStore) DeliveryOf(ctx context.Context, messageID string, recipientID int64) (messaging.Delivery, bool, error) {
	d, err := scanDelivery(s.pool.QueryRow(ctx, `SELECT `+deliveryColumns+` FROM message_deliveries d
		WHERE d.message_id = $1 AND d.recipient_id = $2`, replanned, messageID, recipientID))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, wrap("delivery of message", err)
}

const deliveryColumns = `d.message_id::text, d.recipient_id, d.method, d.notified, d.reason, d.mx, d.tls_version, d.verified_by, d.at`

func scanDelivery(row pgx.Row) (messaging.Delivery, error) {
	var d messaging.Delivery
	err := row.Scan(&d.MessageID, &d.RecipientID, &d.Method, &d.Notified, &d.Reason, &d.MX, &d.TLSVersion, &d.VerifiedBy, &d.At)
	return d, err
}
