package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

// Audit actions of messaging.
const (
	auditMessageSent       audit.Action = "message.sent"
	auditMessageRead       audit.Action = "message.read"
	auditMessageDownloaded audit.Action = "message.downloaded"
	auditMessageRecalled   audit.Action = "message.recalled"
)

// MessagingLimits bound what one message may carry and what one search
// may cost.
type MessagingLimits struct {
	MaxFileBytes int64
	MaxFiles     int
	// SearchTime is how long one search may compare text before it
	// answers with what it found (0: a default of 2 s).
	SearchTime time.Duration
}

// MessagingStore implements messaging.Store over PostgreSQL and the envelope
// store: plaintext exists only in memory, on its way in or out.
type MessagingStore struct {
	pool   *pgxpool.Pool
	keys   *DataKeys
	jobs   JobInserter
	limits MessagingLimits
	search *searchKeys
}

// NewMessagingStore returns the store.
func NewMessagingStore(pool *pgxpool.Pool, keys *DataKeys, jobs JobInserter, limits MessagingLimits) *MessagingStore {
	return &MessagingStore{pool: pool, keys: keys, jobs: jobs, limits: limits, search: &searchKeys{keys: keys}}
}

var _ messaging.Store = (*MessagingStore)(nil)

// Where each ciphertext lives. Bindings and owners use only immutable ids,
// so a ciphertext or key copied to another row fails to open.
func subjectSeal(threadID string) (Owner, envelope.Binding) {
	return Owner{Kind: "thread-subject", ID: threadID, ThreadID: threadID},
		envelope.Binding{Purpose: "thread-subject", Table: "threads", Column: "subject_ct", RowID: threadID, ThreadID: threadID}
}

func bodySeal(threadID, messageID string) (Owner, envelope.Binding) {
	return Owner{Kind: "message-body", ID: messageID, ThreadID: threadID},
		envelope.Binding{Purpose: "message-body", Table: "messages", Column: "body_ct", RowID: messageID, ThreadID: threadID}
}

func attachmentNameSeal(threadID, attachmentID string) (Owner, envelope.Binding) {
	return Owner{Kind: "attachment-name", ID: attachmentID, ThreadID: threadID},
		envelope.Binding{Purpose: "attachment-name", Table: "attachments", Column: "name_ct", RowID: attachmentID, ThreadID: threadID}
}

func attachmentDataSeal(threadID, attachmentID string) (Owner, envelope.Binding) {
	return Owner{Kind: "attachment-data", ID: attachmentID, ThreadID: threadID},
		envelope.Binding{Purpose: "attachment-data", Table: "data_chunks", Column: "ct", RowID: attachmentID, ThreadID: threadID}
}

// The same seals, for a tool that writes rows the portal must open:
// cmd/loadgen seals a seeded population in bulk with exactly these owners
// and bindings, not with copies that could drift.
var (
	SubjectSeal        = subjectSeal
	BodySeal           = bodySeal
	AttachmentNameSeal = attachmentNameSeal
	AttachmentDataSeal = attachmentDataSeal
)

// threadScope is the SQL condition that limits threads (alias t) to those
// the viewer ($1) may see: a provider their own and their practice's
// mailbox's, staff their own and their teams'. Every messaging query goes
// through it, so membership is checked in the query that reads.
func threadScope(v messaging.Viewer) string {
	if v.Emergency {
		return `EXISTS (SELECT 1 FROM emergency_access e WHERE e.thread_id = t.id AND e.admin_id = $1 AND e.expires_at > now())`
	}
	if v.Staff {
		return `(t.staff_id = $1 OR t.team_id IN (SELECT team_id FROM team_members WHERE user_id = $1))`
	}
	return `t.provider_id IN ($1, (` + practiceMailboxesSQL + `))`
}

// decryptOrWithdrawn opens a record; a destroyed key means withdrawn (or
// expired), reported as ok=false rather than an error.
func (s *MessagingStore) decryptOrWithdrawn(ctx context.Context, q Querier, keyID string, owner Owner, b envelope.Binding, ct []byte) (string, bool, error) {
	pt, err := s.keys.OpenRecord(ctx, q, keyID, owner, b, ct)
	if errors.Is(err, envelope.ErrShredded) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(pt), true, nil
}
