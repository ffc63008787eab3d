-- +goose Up
-- Retention: when a thread's content was destroyed by the retention job (its
-- keys shredded), the metadata stays for the audit and this says when.
ALTER TABLE threads ADD COLUMN expired_at timestamptz;
CREATE INDEX messages_expires_idx ON messages (expires_at) WHERE expires_at IS NOT NULL;

-- Emergency access (HIPAA 164.312(a)(2)(ii)): an admin's time-boxed right to
-- read one thread, with a mandatory reason. Rows are never deleted: the list
-- is what the security officer reviews.
CREATE TABLE emergency_access (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	admin_id   bigint NOT NULL REFERENCES users (id),
	thread_id  uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	reason     text NOT NULL CHECK (reason <> ''),
	granted_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL CHECK (expires_at > granted_at)
);
CREATE INDEX emergency_access_admin_idx ON emergency_access (admin_id, thread_id, expires_at);

-- +goose Down
DROP TABLE emergency_access;
DROP INDEX messages_expires_idx;
ALTER TABLE threads DROP COLUMN expired_at;
