-- +goose Up
-- A provider's own filing (issue 15): a thread they archived leaves their
-- inbox for "Archived" until a new message from the plan brings it back.
-- Staff never see it; it is the provider's, not the thread's status.
ALTER TABLE threads ADD COLUMN provider_archived boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE threads DROP COLUMN provider_archived;
