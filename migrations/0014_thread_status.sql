-- +goose Up
-- A thread's status for the representatives (issue 14): open (the team owes
-- an answer or has not decided), waiting (on the provider, after a staff
-- message), done (closed by a representative; a provider's message reopens
-- it). Set by every message and by hand (audited).
ALTER TABLE threads ADD COLUMN status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'waiting', 'done'));
UPDATE threads SET status = 'waiting' WHERE last_sender_id <> provider_id;

-- +goose Down
ALTER TABLE threads DROP COLUMN status;
