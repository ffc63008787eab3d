-- +goose Up
-- Session store of github.com/alexedwards/scs/pgxstore. The token column holds a
-- SHA-256 of the session token (scs HashTokenInStore), never the cookie value.
CREATE TABLE sessions (
	token  TEXT PRIMARY KEY,
	data   BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);

-- +goose Down
DROP TABLE sessions;
