package postgres

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/messaging"
)

const (
	auditSavedReplyAdded   audit.Action = "saved_reply.added"
	auditSavedReplyDeleted audit.Action = "saved_reply.deleted"
	auditSignatureSet      audit.Action = "account.signature_set"
)

// savedReplySeal is where a saved reply's body lives: its own data key,
// bound to the reply's row.
func savedReplySeal(id string) (Owner, envelope.Binding) {
	return Owner{Kind: "saved-reply", ID: id},
		envelope.Binding{Purpose: "saved-reply", Table: "saved_replies", Column: "body_ct", RowID: id}
}

func (s *MessagingStore) SavedReplies(ctx context.Context, staff messaging.Viewer) ([]messaging.SavedReply, error) {
	return s.savedReplies(ctx, `r.team_id IN (SELECT team_id FROM team_members WHERE user_id = $1)`, staff.UserID)
}

func (s *MessagingStore) TeamSavedReplies(ctx context.Context, teamID int64) ([]messaging.SavedReply, error) {
	return s.savedReplies(ctx, `r.team_id = $1`, teamID)
}

// savedReplies are the saved replies where (over arg $1) holds, opened.
func (s *MessagingStore) savedReplies(ctx context.Context, where string, arg any) ([]messaging.SavedReply, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.id::text, r.team_id, t.name, r.title, r.body_key::text, r.body_ct, `+keyColumns+`
		FROM saved_replies r JOIN teams t ON t.id = r.team_id
		LEFT JOIN data_keys dk ON dk.id = r.body_key
		WHERE `+where+`
		ORDER BY t.name, lower(r.title), r.id`, arg)
	if err != nil {
		return nil, wrap("saved replies", err)
	}
	var out []messaging.SavedReply
	var recs []SealedRecord
	var keys []joinedKey
	for rows.Next() {
		var r messaging.SavedReply
		var rec SealedRecord
		var k joinedKey
		if err := rows.Scan(append([]any{&r.ID, &r.TeamID, &r.TeamName, &r.Title, &rec.DataKeyID, &rec.CT}, k.dest()...)...); err != nil {
			rows.Close()
			return nil, wrap("saved replies", err)
		}
		rec.Owner, rec.Binding = savedReplySeal(r.ID)
		out, recs, keys = append(out, r), append(recs, rec), append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("saved replies", err)
	}
	bodies, err := s.keys.openJoined(recs, keys)
	if err != nil {
		return nil, wrap("saved replies", err)
	}
	for i := range out {
		out[i].Body = string(bodies[i])
	}
	return out, nil
}

func (s *MessagingStore) AddSavedReply(ctx context.Context, staff messaging.Viewer, teamID int64, title, body string) error {
	return s.addSavedReply(ctx, staff, teamID, title, body, true)
}

func (s *MessagingStore) AddTeamSavedReply(ctx context.Context, admin messaging.Viewer, teamID int64, title, body string) error {
	return s.addSavedReply(ctx, admin, teamID, title, body, false)
}

// addSavedReply seals and saves a reply for team teamID: a team that
// exists, and with memberOnly one the actor is in; ErrNotInTeam otherwise.
func (s *MessagingStore) addSavedReply(ctx context.Context, actor messaging.Viewer, teamID int64, title, body string, memberOnly bool) error {
	allowedSQL, args := `SELECT EXISTS (SELECT 1 FROM teams WHERE id = $1)`, []any{teamID}
	if memberOnly {
		allowedSQL, args = `SELECT EXISTS (SELECT 1 FROM team_members WHERE team_id = $1 AND user_id = $2)`, append(args, actor.UserID)
	}
	return wrap("add saved reply", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var allowed bool
		if err := tx.QueryRow(ctx, allowedSQL, args...).Scan(&allowed); err != nil {
			return err
		}
		if !allowed {
			return messaging.ErrNotInTeam
		}
		id, err := newUUID()
		if err != nil {
			return err
		}
		owner, b := savedReplySeal(id)
		keyID, ct, err := s.keys.SealRecord(ctx, tx, owner, b, []byte(body))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO saved_replies (id, team_id, title, body_key, body_ct, created_by) VALUES ($1, $2, $3, $4, $5, $6)`,
			id, teamID, title, keyID, ct, actor.UserID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: actor.UserID, Action: auditSavedReplyAdded, TargetType: "saved_reply", TargetID: id, IP: actor.IP,
			Detail: map[string]any{"team_id": teamID}})
	}))
}

func (s *MessagingStore) DeleteSavedReply(ctx context.Context, staff messaging.Viewer, id string) error {
	return s.deleteSavedReply(ctx, staff, id, `r.team_id IN (SELECT team_id FROM team_members WHERE user_id = $2)`, staff.UserID)
}

func (s *MessagingStore) DeleteTeamSavedReply(ctx context.Context, admin messaging.Viewer, teamID int64, id string) error {
	return s.deleteSavedReply(ctx, admin, id, `r.team_id = $2`, teamID)
}

// deleteSavedReply deletes reply id where allowedSQL (over $2, arg) holds,
// shredding its key; ErrNotFound otherwise.
func (s *MessagingStore) deleteSavedReply(ctx context.Context, actor messaging.Viewer, id, allowedSQL string, arg any) error {
	return wrap("delete saved reply", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var keyID string
		var teamID int64
		err := tx.QueryRow(ctx, `DELETE FROM saved_replies r WHERE r.id = $1 AND `+allowedSQL+` RETURNING r.body_key::text, r.team_id`, id, arg).Scan(&keyID, &teamID)
		if errors.Is(err, pgx.ErrNoRows) {
			return messaging.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := s.keys.Shred(ctx, tx, keyID); err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: actor.UserID, Action: auditSavedReplyDeleted, TargetType: "saved_reply", TargetID: id, IP: actor.IP,
			Detail: map[string]any{"team_id": teamID}})
	}))
}

func (s *MessagingStore) Signature(ctx context.Context, userID int64) (string, error) {
	var sig string
	err := s.pool.QueryRow(ctx, `SELECT signature FROM staff_signatures WHERE user_id = $1`, userID).Scan(&sig)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return sig, wrap("signature", err)
}

func (s *MessagingStore) SetSignature(ctx context.Context, staff messaging.Viewer, sig string) error {
	return wrap("set signature", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if sig == "" {
			_, err = tx.Exec(ctx, `DELETE FROM staff_signatures WHERE user_id = $1`, staff.UserID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO staff_signatures (user_id, signature) VALUES ($1, $2)
				ON CONFLICT (user_id) DO UPDATE SET signature = EXCLUDED.signature`, staff.UserID, sig)
		}
		if err != nil {
			return err
		}
		return AppendAudit(ctx, tx, audit.Event{ActorID: staff.UserID, Action: auditSignatureSet, TargetType: "user", TargetID: strconv.FormatInt(staff.UserID, 10), IP: staff.IP,
			Detail: map[string]any{"cleared": sig == ""}})
	}))
}
