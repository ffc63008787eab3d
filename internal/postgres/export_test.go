package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/messaging"
)

// MarkRead exposes markRead to the external tests: the thread page marks
// only the messages it showed.
func (s *MessagingStore) MarkRead(ctx context.Context, v messaging.Viewer, threadID string, ids []string) (int, error) {
	return s.markRead(ctx, s.pool, v, threadID, ids, false)
}

// MarkPool exposes the connections MailSent checks and marks on.
func (s *MailSent) MarkPool() *pgxpool.Pool { return s.marks }
