-- +goose Up
-- Emails the mail server has accepted, one row per River job. A job's id is
-- the same on every attempt, so a job that runs again after a crash (River
-- rescues one left "running" by a killed process) finds its row and ends
-- without mailing twice. The row is written right after the server's 250 and
-- read before anything is sent; the few milliseconds between are covered by
-- a Message-ID derived from the job, which lets the receiver drop a second
-- copy. Ids only: no address, subject or content. A row is deleted once
-- River has deleted its job (the retention run), after which the job can
-- never run again.
CREATE TABLE mail_sent (
	job_id  bigint PRIMARY KEY,
	kind    text NOT NULL CHECK (kind IN ('notification', 'tls_delivery', 'link', 'password_changed')),
	sent_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE mail_sent;
