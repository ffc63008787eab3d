-- +goose Up
-- A provider's choice of notification (issue 15): an email for every
-- message (each, the default) or one daily digest (daily) that says how
-- many messages wait, never what they are about. digest_sent_at is when
-- the last digest went out.
ALTER TABLE provider_profiles ADD COLUMN notify text NOT NULL DEFAULT 'each' CHECK (notify IN ('each', 'daily'));
ALTER TABLE provider_profiles ADD COLUMN digest_sent_at timestamptz;
ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed', 'security_notice', 'digest'));

-- +goose Down
ALTER TABLE mail_sent DROP CONSTRAINT mail_sent_kind_check;
ALTER TABLE mail_sent ADD CONSTRAINT mail_sent_kind_check
	CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed', 'security_notice'));
ALTER TABLE provider_profiles DROP COLUMN digest_sent_at;
ALTER TABLE provider_profiles DROP COLUMN notify;
