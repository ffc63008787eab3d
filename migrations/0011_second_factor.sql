-- +goose Up
-- Second factor (issue 16): authenticator apps and recovery codes.

-- An authenticator app's TOTP secret, sealed by the envelope store like a
-- message (secret_ct under its own data key, which rotation rewraps and a
-- reset shreds). It is stored only once a code from the app has worked;
-- until then the set-up page carries it, so a page that is only looked at
-- stores nothing. One per user: a new app replaces the old.
CREATE TABLE totp_secrets (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id      bigint NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
	data_key_id  uuid NOT NULL,
	secret_ct    bytea NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now(),
	-- The newest 30-second step whose code was accepted: each code works once.
	last_step    bigint NOT NULL
);

-- One-time recovery codes: 80 random bits each, so their SHA-256 is as
-- safe to store as a link token's.
CREATE TABLE recovery_codes (
	user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_sha256 bytea NOT NULL CHECK (length(code_sha256) = 32),
	created_at  timestamptz NOT NULL DEFAULT now(),
	used_at     timestamptz,
	PRIMARY KEY (user_id, code_sha256)
);

ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed', 'security_notice'));

-- +goose Down
ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed'));
DROP TABLE recovery_codes;
DROP TABLE totp_secrets;
