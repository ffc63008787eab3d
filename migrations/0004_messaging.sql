-- +goose Up
-- Secure messaging. Subjects, bodies and file names are stored only as
-- ciphertext (envelope store, DESIGN.md §5), each next to the id of its data
-- key in data_keys; attachment bytes live in data_chunks under their own key.
-- No foreign key points at data_keys: shredding deletes the key row and must
-- leave the metadata (who, when, sizes) for the audit.

CREATE TABLE teams (
	id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name             text NOT NULL UNIQUE,
	line_of_business text NOT NULL DEFAULT '',
	created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team_members (
	team_id bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user_idx ON team_members (user_id);

CREATE TABLE threads (
	id              uuid PRIMARY KEY,
	provider_id     bigint NOT NULL REFERENCES users (id),
	-- The representative who owns the conversation, and/or the team that
	-- shares it; at least one of them.
	staff_id        bigint REFERENCES users (id),
	team_id         bigint REFERENCES teams (id),
	subject_key     uuid NOT NULL,
	subject_ct      bytea NOT NULL,
	created_at      timestamptz NOT NULL DEFAULT now(),
	last_message_at timestamptz NOT NULL DEFAULT now(),
	-- Who wrote last: lets staff filter "awaiting reply" without a scan.
	last_sender_id  bigint NOT NULL REFERENCES users (id),
	CHECK (staff_id IS NOT NULL OR team_id IS NOT NULL)
);
-- Keyset pagination of inboxes, newest activity first.
CREATE INDEX threads_provider_activity_idx ON threads (provider_id, last_message_at DESC, id DESC);
CREATE INDEX threads_staff_activity_idx ON threads (staff_id, last_message_at DESC, id DESC);
CREATE INDEX threads_team_activity_idx ON threads (team_id, last_message_at DESC, id DESC);

CREATE TABLE messages (
	id          uuid PRIMARY KEY,
	thread_id   uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	sender_id   bigint NOT NULL REFERENCES users (id),
	body_key    uuid NOT NULL,
	body_ct     bytea NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	recalled_at timestamptz,
	expires_at  timestamptz
);
CREATE INDEX messages_thread_idx ON messages (thread_id, created_at, id);

-- Read receipts: one row the first time a user opens a message.
CREATE TABLE message_reads (
	message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	user_id    bigint NOT NULL REFERENCES users (id),
	read_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (message_id, user_id)
);
CREATE INDEX message_reads_user_idx ON message_reads (user_id);

CREATE TABLE attachments (
	id           uuid PRIMARY KEY,
	message_id   uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	name_key     uuid NOT NULL,
	name_ct      bytea NOT NULL,
	data_key     uuid NOT NULL,
	content_type text NOT NULL,
	size         bigint NOT NULL,
	position     integer NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attachments_message_idx ON attachments (message_id, position);

-- +goose Down
DROP TABLE attachments;
DROP TABLE message_reads;
DROP TABLE messages;
DROP TABLE threads;
DROP TABLE team_members;
DROP TABLE teams;
