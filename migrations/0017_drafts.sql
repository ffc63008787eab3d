-- +goose Up
-- A message posted after its writer's session ended (issue 15): its text is
-- held here, sealed under a data key of its own, for a few minutes, so that
-- after signing in again the form comes back filled. The browser that
-- posted it holds the token (a cookie); only its SHA-256 is stored. A draft
-- is deleted, and its key shredded, when it is given back or expires
-- (the purge job), and never lives past expires_at.
CREATE TABLE drafts (
	id           uuid PRIMARY KEY,
	token_hash   bytea NOT NULL UNIQUE,
	form_path    text NOT NULL,
	fields_key   uuid NOT NULL,
	fields_ct    bytea NOT NULL,
	files_dropped integer NOT NULL DEFAULT 0,
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL,
	CHECK (expires_at <= created_at + interval '24 hours')
);
CREATE INDEX drafts_expiry_idx ON drafts (expires_at);

-- +goose Down
DROP TABLE drafts;
