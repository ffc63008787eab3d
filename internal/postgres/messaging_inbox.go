package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/healthnet/secureportal/internal/messaging"
)

// pageConds are the SQL conditions of page p besides the viewer's scope
// (cursor, filter, narrowing), with their arguments after the viewer's id
// ($1); notOpened is the expression that flags a thread not opened by its
// provider ("false" when p asks for no flag).
func pageConds(v messaging.Viewer, p messaging.Page) (cond []string, args []any, notOpened string) {
	args = []any{v.UserID}
	arg := func(x any) string {
		args = append(args, x)
		return "$" + strconv.Itoa(len(args))
	}
	if at, id, ok := parseCursor(p.Before); ok {
		cond = append(cond, `(t.last_message_at, t.id) < (`+arg(at)+`, `+arg(id)+`)`)
	}
	switch p.Filter {
	case messaging.FilterUnread:
		if countsUnread(v) {
			cond = append(cond, unreadCountSQL(v)+` > 0`)
		} else {
			cond = append(cond, `EXISTS (`+unreadMessagesSQL(v)+`)`)
		}
	case messaging.FilterAwaiting:
		cond = append(cond, `t.last_sender_id = t.provider_id`)
	case messaging.FilterNotDone:
		cond = append(cond, `t.status <> 'done'`)
	case messaging.FilterDone:
		cond = append(cond, `t.status = 'done'`)
	case messaging.FilterMine:
		cond = append(cond, `t.staff_id = $1`)
	case messaging.FilterNoOwner:
		// The team's: nobody's, or an owner who is away or disabled.
		cond = append(cond, `(t.staff_id IS NULL OR `+unavailableOwnerSQL+`)`)
	}
	if !v.Staff && !v.Emergency {
		switch {
		case p.Filter == messaging.FilterArchived:
			cond = append(cond, `t.provider_archived`)
		case !p.WithArchived && p.IDs == nil:
			cond = append(cond, `NOT t.provider_archived`)
		}
	}
	if p.ProviderID != 0 {
		cond = append(cond, `t.provider_id = `+arg(p.ProviderID))
	}
	if p.TeamID != 0 {
		cond = append(cond, `t.team_id = `+arg(p.TeamID))
	}
	if !p.Since.IsZero() {
		cond = append(cond, `t.last_message_at >= `+arg(p.Since))
	}
	if !p.Until.IsZero() {
		cond = append(cond, `t.last_message_at < `+arg(p.Until))
	}
	if p.HasAttachment {
		cond = append(cond, `EXISTS (SELECT 1 FROM messages m JOIN attachments a ON a.message_id = m.id WHERE m.thread_id = t.id AND m.recalled_at IS NULL)`)
	}
	if p.IDs != nil {
		cond = append(cond, `t.id = ANY(`+arg(p.IDs)+`::uuid[])`)
	}
	// Flagging unopened messages is for staff; a provider's page asks false.
	notOpened = "false"
	if v.Staff && !p.NotOpenedBefore.IsZero() {
		notOpened = notOpenedSQL(arg(p.NotOpenedBefore))
		if p.NotOpenedOnly {
			cond = append(cond, notOpened)
		}
	}
	return cond, args, notOpened
}

func (s *MessagingStore) Inbox(ctx context.Context, v messaging.Viewer, p messaging.Page) ([]messaging.ThreadSummary, string, error) {
	if p.Limit <= 0 {
		p.Limit = 25
	}
	cond, args, notOpened := pageConds(v, p)
	limit := limitSQL(p.Limit + 1)
	where := append([]string{threadScope(v)}, cond...)
	if v.Staff && !v.Emergency {
		where = append(where, `t.id IN (`+staffPageCandidates(cond, limit)+`)`)
	}
	rows, err := s.pool.Query(ctx, `
		SELECT t.id::text, t.subject_key::text, t.subject_ct, t.last_message_at,
			t.last_sender_id = t.provider_id, t.expired_at IS NOT NULL,
			coalesce(nullif(pu.display_name, ''), pu.email::text), pu.email::text,
			coalesce(su.display_name, ''), coalesce(tm.name, ''),
			`+unreadCountSQL(v)+`, t.status, `+notOpened+`, `+keyColumns+`
		FROM threads t
		LEFT JOIN data_keys dk ON dk.id = t.subject_key
		JOIN users pu ON pu.id = t.provider_id
		LEFT JOIN users su ON su.id = t.staff_id
		LEFT JOIN teams tm ON tm.id = t.team_id
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY t.last_message_at DESC, t.id DESC
		LIMIT `+limit, args...)
	if err != nil {
		return nil, "", wrap("inbox", err)
	}
	type row struct {
		id, keyID              string
		ct                     []byte
		at                     time.Time
		awaiting, expired      bool
		provider, email, staff string
		team                   string
		unread                 int
		status                 messaging.Status
		notOpened              bool
		key                    joinedKey // the subject's data key, joined
	}
	var list []row
	for rows.Next() {
		var r row
		if err := rows.Scan(append([]any{&r.id, &r.keyID, &r.ct, &r.at, &r.awaiting, &r.expired, &r.provider, &r.email, &r.staff, &r.team, &r.unread, &r.status, &r.notOpened},
			r.key.dest()...)...); err != nil {
			rows.Close()
			return nil, "", wrap("inbox", err)
		}
		list = append(list, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", wrap("inbox", err)
	}
	next := ""
	if len(list) > p.Limit {
		list = list[:p.Limit]
		last := list[len(list)-1]
		next = formatCursor(last.at, last.id)
	}
	sealed := make([]SealedRecord, len(list))
	keys := make([]joinedKey, len(list))
	for i, r := range list {
		owner, b := subjectSeal(r.id)
		sealed[i] = SealedRecord{DataKeyID: r.keyID, Owner: owner, Binding: b, CT: r.ct}
		keys[i] = r.key
	}
	subjects, err := s.keys.openJoined(sealed, keys)
	if err != nil {
		return nil, "", wrap("inbox", err)
	}
	out := make([]messaging.ThreadSummary, 0, len(list))
	for i, r := range list {
		ok := subjects[i] != nil
		ts := messaging.ThreadSummary{ID: r.id, Subject: string(subjects[i]), Withdrawn: !ok && !r.expired, Expired: r.expired, LastMessageAt: r.at, Unread: r.unread,
			AwaitingReply: r.awaiting, ProviderEmail: r.email, TeamName: r.team, Status: r.status, NotOpened: r.notOpened}
		switch {
		case v.Staff:
			ts.Counterpart = r.provider
		case r.staff != "":
			ts.Counterpart = r.staff
		default:
			ts.Counterpart = r.team
		}
		out = append(out, ts)
	}
	return out, next, nil
}

// limitSQL writes a page's LIMIT into the statement as a number, not as a
// parameter. pgx prepares each statement once per connection, and after
// five executions PostgreSQL may reuse one generic plan for it; a generic
// plan cannot know a parameter LIMIT, costs it as a tenth of every row the
// query could return, and so loses to planning afresh every time. With the staff
// inbox's unions that planning is most of the page (issue 12: 7-9 ms a
// page against 1-2 ms, pgbench at 1M messages). Limits come from the code
// (a page size, a search batch), so the distinct statements are few.
func limitSQL(n int) string { return strconv.Itoa(n) }

// staffPageCandidates narrows a representative's page to the newest limit
// threads (after cond) of each source in their scope, their own and each of
// their teams', each read in order from its activity index: the page then
// costs the same whatever the size of the archive. With the scope's OR
// alone, PostgreSQL read and sorted every thread of every team for each
// page (issue 12: 57 ms a page at 100k messages, 152 ms at 1M). The scope
// itself is still applied to what this returns.
func staffPageCandidates(cond []string, limit string) string {
	and := ""
	if len(cond) > 0 {
		and = " AND " + strings.Join(cond, " AND ")
	}
	newest := and + " ORDER BY t.last_message_at DESC, t.id DESC LIMIT " + limit
	return `(SELECT t.id FROM threads t WHERE t.staff_id = $1` + newest + `)
		UNION ALL (SELECT c.id FROM team_members m CROSS JOIN LATERAL (
			SELECT t.id FROM threads t WHERE t.team_id = m.team_id` + newest + `) c WHERE m.user_id = $1)`
}

// notOpenedSQL tells whether thread t has a staff message, still there,
// sent before cutoff, that waits in the portal (not delivered over TLS)
// and that the provider has not opened.
func notOpenedSQL(cutoff string) string {
	return `EXISTS (SELECT 1 FROM messages m JOIN users mu ON mu.id = m.sender_id WHERE m.thread_id = t.id AND mu.role <> 'provider' AND m.recalled_at IS NULL
		AND m.created_at < ` + cutoff + `
		AND NOT ` + openedByProviderSideSQL + `
		AND NOT EXISTS (SELECT 1 FROM message_deliveries d WHERE d.message_id = m.id AND d.method = 'tls'))`
}

// openedByProviderSideSQL says message m was opened by its thread's
// provider or, for a practice's mailbox, by any member: by a provider (a
// provider can read only their own and their practice's threads).
const openedByProviderSideSQL = `EXISTS (SELECT 1 FROM message_reads r JOIN users ru ON ru.id = r.user_id WHERE r.message_id = m.id AND ru.role = 'provider')`

// countsUnread says whether v's unread messages are counted in
// thread_readers (migrations/0026_thread_readers.sql): a staff member's
// are; a provider's count only the plan's messages (unreadMessagesSQL),
// and their inbox reads their own threads' few messages anyway.
func countsUnread(v messaging.Viewer) bool { return v.Staff || v.Emergency }

// unreadCountSQL is the number of thread t's messages viewer $1 has not
// opened, as unreadMessagesSQL defines them: for staff from the kept
// counts (one index read, whatever the thread's length), for a provider by
// looking at the messages.
func unreadCountSQL(v messaging.Viewer) string {
	if countsUnread(v) {
		return `(t.live_messages - coalesce((SELECT r.sent + r.read FROM thread_readers r WHERE r.user_id = $1 AND r.thread_id = t.id), 0))`
	}
	return `(SELECT count(*) FROM (` + unreadMessagesSQL(v) + `) u)`
}

// unreadMessagesSQL selects the messages of thread t that viewer $1 has not
// opened, sent by someone else and not withdrawn; for a provider, sent by
// the plan (a practice colleague's answer is the practice's own).
func unreadMessagesSQL(v messaging.Viewer) string {
	sql := `SELECT 1 FROM messages m WHERE m.thread_id = t.id AND m.sender_id <> $1 AND m.recalled_at IS NULL
	AND NOT EXISTS (SELECT 1 FROM message_reads r WHERE r.message_id = m.id AND r.user_id = $1)`
	if !v.Staff && !v.Emergency {
		sql += ` AND NOT EXISTS (SELECT 1 FROM users su WHERE su.id = m.sender_id AND su.role = 'provider')`
	}
	return sql
}

// Cursors are "<unix microseconds>_<thread id>": opaque to users, stable,
// and exact (timestamps are microsecond precision in PostgreSQL). A cursor
// from before 1970 is refused: no thread is that old, and a time before
// PostgreSQL's range (4714 BC) would be a database error, not a page.
func formatCursor(at time.Time, id string) string {
	return strconv.FormatInt(at.UnixMicro(), 10) + "_" + id
}

func parseCursor(c string) (time.Time, string, bool) {
	micros, id, ok := strings.Cut(c, "_")
	n, err := strconv.ParseInt(micros, 10, 64)
	if !ok || err != nil || n < 0 || !messaging.ValidID(id) {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n), id, true
}
