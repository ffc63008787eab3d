package postgres

import (
	"context"
	"strings"
)

// waitingSQL is the condition on message m (of thread t) for provider $1:
// from the plan, not withdrawn, not opened by the provider (or, for a
// practice's mailbox, a member), and waiting in the portal (not delivered
// to their mailbox over TLS), newer than the provider's last digest
// (profile p).
const waitingSQL = `t.provider_id = $1 AND NOT EXISTS (SELECT 1 FROM users su WHERE su.id = m.sender_id AND su.role = 'provider') AND m.recalled_at IS NULL
	AND m.created_at > coalesce(p.digest_sent_at, '-infinity')
	AND NOT ` + openedByProviderSideSQL + `
	AND NOT EXISTS (SELECT 1 FROM message_deliveries d WHERE d.message_id = m.id AND d.method = 'tls')`

// DueDigests are the active providers who chose a daily digest, whose last
// digest is at least 23 hours old (the digest run is hourly) and who have
// messages waiting since.
func (s *MessagingStore) DueDigests(ctx context.Context) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT p.user_id FROM provider_profiles p JOIN users u ON u.id = p.user_id AND u.status = 'active'
		WHERE p.notify = 'daily' AND (p.digest_sent_at IS NULL OR p.digest_sent_at <= now() - interval '23 hours')
		AND EXISTS (SELECT 1 FROM threads t JOIN messages m ON m.thread_id = t.id WHERE `+strings.ReplaceAll(waitingSQL, "$1", "p.user_id")+`)
		ORDER BY p.user_id`)
	if err != nil {
		return nil, wrap("due digests", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, wrap("due digests", err)
		}
		ids = append(ids, id)
	}
	return ids, wrap("due digests", rows.Err())
}

// Waiting counts the messages a digest for providerID announces.
func (s *MessagingStore) Waiting(ctx context.Context, providerID int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM threads t JOIN messages m ON m.thread_id = t.id
		LEFT JOIN provider_profiles p ON p.user_id = $1 WHERE `+waitingSQL, providerID).Scan(&n)
	return n, wrap("waiting", err)
}

// MarkDigestSent records that providerID's digest went out now.
func (s *MessagingStore) MarkDigestSent(ctx context.Context, providerID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE provider_profiles SET digest_sent_at = now() WHERE user_id = $1`, providerID)
	return wrap("mark digest sent", err)
}
