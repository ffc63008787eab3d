-- +goose Up
-- Whose a session is, beside its opaque data (issue 12): reading a page's
-- session and its signed-in user is then one round trip to the database,
-- not two (postgres.SessionStore). Written with each save of the session;
-- NULL for a session nobody has signed in to, and for sessions saved
-- before this column until their next save. A deleted user's sessions go
-- with the account.
ALTER TABLE sessions ADD COLUMN user_id bigint REFERENCES users (id) ON DELETE CASCADE;
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- +goose Down
ALTER TABLE sessions DROP COLUMN user_id;
