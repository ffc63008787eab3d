package postgres

import (
	"context"

	"github.com/healthnet/secureportal/internal/messaging"
)

// MarkRead exposes markRead to the external tests: the thread page marks
// only the messages it showed.
func (s *MessagingStore) MarkRead(ctx context.Context, v messaging.Viewer, threadID string, ids []string) (int, error) {
	return s.markRead(ctx, s.pool, v, threadID, ids, false)
}
