-- +goose Up
-- Passkeys (issue 16): WebAuthn discoverable credentials. A record holds
-- the credential's public key, flags and sign counter as go-webauthn
-- stores them (JSON): nothing secret, nothing about a patient.

-- The WebAuthn user handle: random, made on first use, never the email
-- (the authenticator keeps it).
ALTER TABLE users ADD COLUMN passkey_handle bytea UNIQUE CHECK (length(passkey_handle) = 32);

CREATE TABLE passkeys (
	id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	credential_id bytea NOT NULL UNIQUE,
	name          text NOT NULL,
	record        jsonb NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	last_used_at  timestamptz
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- +goose Down
DROP TABLE passkeys;
ALTER TABLE users DROP COLUMN passkey_handle;
