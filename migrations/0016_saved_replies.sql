-- +goose Up
-- Saved replies (issue 14): a team's ready answers, inserted into the reply
-- box. The title is a label (the form asks for no patient details there);
-- the body is sealed like a message, under its own data key, in case one
-- holds more than it should. Signatures are a representative's name and
-- contact lines, kept as text.
CREATE TABLE saved_replies (
	id         uuid PRIMARY KEY,
	team_id    bigint NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
	title      text NOT NULL,
	body_key   uuid NOT NULL,
	body_ct    bytea NOT NULL,
	created_by bigint NOT NULL REFERENCES users (id),
	created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX saved_replies_team_idx ON saved_replies (team_id, title);

CREATE TABLE staff_signatures (
	user_id   bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	signature text NOT NULL
);

-- +goose Down
DROP TABLE staff_signatures;
DROP TABLE saved_replies;
