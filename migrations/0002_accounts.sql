-- +goose Up
CREATE EXTENSION IF NOT EXISTS citext;

-- Everyone who signs in: providers, staff and admins. The email is the
-- username, compared case-insensitively (citext).
CREATE TABLE users (
	id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email               citext NOT NULL UNIQUE,
	display_name        text NOT NULL DEFAULT '',
	role                text NOT NULL CHECK (role IN ('provider', 'staff', 'admin')),
	status              text NOT NULL CHECK (status IN ('pending', 'active', 'locked', 'disabled')),
	password_hash       text,
	-- Bumped by password change, reset, admin reset and disable; a session
	-- remembers the epoch it was made in and dies when they differ.
	auth_epoch          bigint NOT NULL DEFAULT 1,
	failed_logins       integer NOT NULL DEFAULT 0,
	locked_until        timestamptz,
	created_at          timestamptz NOT NULL DEFAULT now(),
	last_login_at       timestamptz,
	password_changed_at timestamptz,
	CHECK (status <> 'active' OR password_hash IS NOT NULL)
);

-- Emailed link tokens. Only the SHA-256 of a token is stored, so a database
-- dump yields no usable link.
CREATE TABLE tokens (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	purpose      text NOT NULL CHECK (purpose IN ('register', 'reset')),
	token_sha256 bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
	-- Where the user lands after using the link (a local path, e.g. a thread).
	next_path    text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL DEFAULT now(),
	expires_at   timestamptz NOT NULL,
	used_at      timestamptz
);
CREATE INDEX tokens_user_purpose_idx ON tokens (user_id, purpose) WHERE used_at IS NULL;

-- Security events, append-only and hash-chained: each row's hash covers its
-- content and the previous row's hash, so an edit or deletion breaks the chain.
CREATE TABLE audit_events (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	at          timestamptz NOT NULL DEFAULT now(),
	actor_id    bigint,
	action      text NOT NULL,
	target_type text NOT NULL DEFAULT '',
	target_id   text NOT NULL DEFAULT '',
	ip          text NOT NULL DEFAULT '',
	detail      jsonb NOT NULL DEFAULT '{}',
	prev_hash   bytea NOT NULL,
	hash        bytea NOT NULL
);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, at);

-- audit_row_hash is the one definition of a row's hash, used when appending and
-- when verifying. Fields are length-prefixed so no two rows encode alike, and
-- the time is in microseconds since the epoch so session settings (DateStyle,
-- TimeZone) cannot change the encoding.
-- +goose StatementBegin
CREATE FUNCTION audit_row_hash(prev bytea, at timestamptz, actor_id bigint, action text,
	target_type text, target_id text, ip text, detail jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
	SELECT sha256(prev || convert_to(
		concat_ws('|',
			'audit/v1',
			(extract(epoch FROM at) * 1000000)::bigint::text,
			length(coalesce(actor_id::text, '')) || ':' || coalesce(actor_id::text, ''),
			length(action) || ':' || action,
			length(target_type) || ':' || target_type,
			length(target_id) || ':' || target_id,
			length(ip) || ':' || ip,
			length(detail::text) || ':' || detail::text),
		'UTF8'))
$$;
-- +goose StatementEnd

-- audit_append serialises writers with a transaction-level advisory lock so
-- that each row chains to exactly one predecessor.
-- +goose StatementBegin
CREATE FUNCTION audit_append(p_actor_id bigint, p_action text, p_target_type text,
	p_target_id text, p_ip text, p_detail jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
	v_prev bytea;
	v_at   timestamptz := date_trunc('microseconds', clock_timestamp());
	v_id   bigint;
BEGIN
	PERFORM pg_advisory_xact_lock(7345501861);
	SELECT hash INTO v_prev FROM audit_events ORDER BY id DESC LIMIT 1;
	v_prev := coalesce(v_prev, ''::bytea);
	INSERT INTO audit_events (at, actor_id, action, target_type, target_id, ip, detail, prev_hash, hash)
	VALUES (v_at, p_actor_id, p_action, p_target_type, p_target_id, p_ip, p_detail, v_prev,
		audit_row_hash(v_prev, v_at, p_actor_id, p_action, p_target_type, p_target_id, p_ip, p_detail))
	RETURNING id INTO v_id;
	RETURN v_id;
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_events_no_update BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only;
DROP FUNCTION audit_append;
DROP FUNCTION audit_row_hash;
DROP TABLE tokens;
DROP TABLE users;
