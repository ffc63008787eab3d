-- +goose Up
-- The files of a message posted after its writer's session ended (issue
-- 15): each is sealed as a stream under its own data key, its name under
-- another, beside the draft's text. While the draft waits for its writer
-- (draft_id set), the row dies with it. Given back after sign-in, a file
-- belongs to that user and form (user_id, form_path) for a few more
-- minutes, until the message is sent with it or it expires; then its keys
-- are shredded (postgres.Drafts).
CREATE TABLE draft_files (
	id         uuid PRIMARY KEY,
	draft_id   uuid REFERENCES drafts (id) ON DELETE SET NULL,
	user_id    bigint REFERENCES users (id) ON DELETE CASCADE,
	form_path  text NOT NULL,
	position   integer NOT NULL,
	data_key   uuid NOT NULL,
	name_key   uuid NOT NULL,
	name_ct    bytea NOT NULL,
	size       bigint NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL,
	CHECK (expires_at <= created_at + interval '24 hours')
);
CREATE INDEX draft_files_draft_idx ON draft_files (draft_id);
CREATE INDEX draft_files_user_idx ON draft_files (user_id);
CREATE INDEX draft_files_expiry_idx ON draft_files (expires_at);

-- Files are held now, not dropped and counted.
ALTER TABLE drafts DROP COLUMN files_dropped;

-- +goose Down
ALTER TABLE drafts ADD COLUMN files_dropped integer NOT NULL DEFAULT 0;
DROP TABLE draft_files;
