-- +goose Up
-- Internal notes on a thread (issue 14): staff only, sealed like messages
-- (body_ct under its own data key, bound to the note and its thread), never
-- emailed, never shown to the provider. Retention destroys them with the
-- thread's messages.
CREATE TABLE thread_notes (
	id         uuid PRIMARY KEY,
	thread_id  uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	author_id  bigint NOT NULL REFERENCES users (id),
	body_key   uuid NOT NULL,
	body_ct    bytea NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX thread_notes_thread_idx ON thread_notes (thread_id, created_at);

-- +goose Down
DROP TABLE thread_notes;
