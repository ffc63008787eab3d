-- +goose Up
-- TLS-first delivery (DESIGN.md §7): how each provider domain is reached, and
-- what happened to each message for each recipient.

-- An admin's rule for a mail domain (audited, with a reason): 'portal'
-- always holds messages in the portal; 'tls-required' delivers by verified
-- TLS or holds without a plain-mail notification; 'tls-preferred' (the
-- default for domains with no row) delivers by TLS when the checks pass.
CREATE TABLE domain_policies (
	domain     citext PRIMARY KEY,
	policy     text NOT NULL CHECK (policy IN ('portal', 'tls-required', 'tls-preferred')),
	reason     text NOT NULL,
	updated_by bigint REFERENCES users (id),
	updated_at timestamptz NOT NULL DEFAULT now()
);

-- The last check of a domain (MX, STARTTLS, certificate, MTA-STS, DANE),
-- reused until expires_at so every instance shares one probe. It names mail
-- hosts and TLS versions, never a message.
CREATE TABLE domain_checks (
	domain     citext PRIMARY KEY,
	decision   jsonb NOT NULL,
	checked_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- MTA-STS policies fetched from https://mta-sts.<domain>/ (RFC 8461 §5.1):
-- a cached enforce policy is kept through a failed refetch until max_age.
CREATE TABLE mta_sts_policies (
	domain     citext PRIMARY KEY,
	policy     jsonb NOT NULL,
	fetched_at timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);

-- How one message reached one recipient: by TLS straight to their mail
-- server, or held in the portal (with or without a notification), and why.
CREATE TABLE message_deliveries (
	message_id   uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	recipient_id bigint NOT NULL REFERENCES users (id),
	method       text NOT NULL CHECK (method IN ('tls', 'portal')),
	notified     boolean NOT NULL DEFAULT false,
	reason       text NOT NULL,
	mx           text NOT NULL DEFAULT '',
	tls_version  text NOT NULL DEFAULT '',
	verified_by  text NOT NULL DEFAULT '',
	at           timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (message_id, recipient_id)
);

-- Reply addresses reply+<token>@<reply domain>: each TLS delivery mints one
-- (the raw token is only in that email), stored as SHA-256. Revoked with
-- the thread (recall, retention).
CREATE TABLE reply_tokens (
	token_sha256 bytea PRIMARY KEY,
	thread_id    uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	created_at   timestamptz NOT NULL DEFAULT now(),
	revoked_at   timestamptz
);
CREATE INDEX reply_tokens_thread ON reply_tokens (thread_id);

-- +goose Down
DROP TABLE reply_tokens;
DROP TABLE message_deliveries;
DROP TABLE mta_sts_policies;
DROP TABLE domain_checks;
DROP TABLE domain_policies;
