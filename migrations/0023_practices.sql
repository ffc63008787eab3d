-- +goose Up
-- A practice's shared mailbox (issue 15). A practice is started from the
-- provider account that receives its mail (the front desk's address, proven
-- when that account registered through a link sent to it): that account is
-- the practice's mailbox, and every thread addressed to it is visible to the
-- practice's members, each signing in with their own account, password and
-- second factor. Membership is read in every query's scope, so leaving (or
-- being removed) ends access with the next request.
CREATE TABLE practices (
	id               bigserial PRIMARY KEY,
	mailbox_id       bigint NOT NULL UNIQUE REFERENCES users (id),
	name             text NOT NULL CHECK (name <> ''),
	npi              text NOT NULL UNIQUE CHECK (npi ~ '^[0-9]{10}$'),
	county           text NOT NULL,
	line_of_business text NOT NULL,
	created_at       timestamptz NOT NULL DEFAULT now()
);

-- One practice per account: a member's inbox is their own mail and their
-- practice's.
CREATE TABLE practice_members (
	user_id     bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	practice_id bigint NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
	role        text NOT NULL CHECK (role IN ('admin', 'member')),
	joined_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practice_members_practice_idx ON practice_members (practice_id);

-- An invitation names an address, not a link: the invitee accepts on
-- /practice after signing in as that address (or registering through the
-- link the invitation email carries), so no token can be forwarded.
CREATE TABLE practice_invites (
	id          bigserial PRIMARY KEY,
	practice_id bigint NOT NULL REFERENCES practices (id) ON DELETE CASCADE,
	user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	invited_by  bigint NOT NULL REFERENCES users (id),
	created_at  timestamptz NOT NULL DEFAULT now(),
	expires_at  timestamptz NOT NULL,
	UNIQUE (practice_id, user_id)
);
CREATE INDEX practice_invites_user_idx ON practice_invites (user_id);

-- An invitation's email is sent once, as every other (jobs.markSent).
ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed', 'security_notice', 'digest', 'practice_invite'));

-- +goose Down
ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed', 'security_notice', 'digest'));
DROP TABLE practice_invites;
DROP TABLE practice_members;
DROP TABLE practices;
