-- +goose Up
-- The search index (issue 14; internal/blindindex): each subject, message
-- (its text and its files' names) and user (name and address) holds the
-- keyed tokens of its word beginnings, so that a search asks PostgreSQL
-- for the few records that hold all of a query's tokens instead of
-- decrypting a team's whole archive. The database sees opaque 32-bit
-- numbers, never words; docs/SECURITY.md says what they still reveal.
--
-- NULL means "not indexed yet": such rows are always searched (decrypted
-- and compared), so a search never misses what the indexing job
-- (jobs.SearchIndexArgs) has not reached. '{}' means nothing to find.
ALTER TABLE threads ADD COLUMN search_tokens int4[];
ALTER TABLE messages ADD COLUMN search_tokens int4[];
ALTER TABLE users ADD COLUMN search_tokens int4[];
CREATE INDEX threads_search_idx ON threads USING gin (search_tokens);
CREATE INDEX messages_search_idx ON messages USING gin (search_tokens);
CREATE INDEX users_search_idx ON users USING gin (search_tokens);
-- What the job has left to do, and what every search takes as it is.
CREATE INDEX threads_search_pending_idx ON threads (id) WHERE search_tokens IS NULL;
CREATE INDEX messages_search_pending_idx ON messages (thread_id) WHERE search_tokens IS NULL;
CREATE INDEX users_search_pending_idx ON users (id) WHERE search_tokens IS NULL;

-- Shredding a subject's or a message's key (recall, retention) empties
-- its tokens in the same transaction: what cannot be read any more must
-- not stay findable, whichever code path shredded it. (A message's file
-- names are shredded with its text.)
-- +goose StatementBegin
CREATE FUNCTION search_tokens_shredded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF OLD.owner_kind = 'thread-subject' THEN
		UPDATE threads SET search_tokens = '{}' WHERE id = OLD.owner_id::uuid;
	ELSE
		UPDATE messages SET search_tokens = '{}' WHERE id = OLD.owner_id::uuid;
	END IF;
	RETURN OLD;
END $$;
-- +goose StatementEnd
CREATE TRIGGER data_keys_search_shredded AFTER DELETE ON data_keys FOR EACH ROW
	WHEN (OLD.owner_kind IN ('thread-subject', 'message-body')) EXECUTE FUNCTION search_tokens_shredded();

-- A new name or address is indexed again.
-- +goose StatementBegin
CREATE FUNCTION search_tokens_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	NEW.search_tokens := NULL;
	RETURN NEW;
END $$;
-- +goose StatementEnd
CREATE TRIGGER users_search_stale BEFORE UPDATE OF display_name, email ON users FOR EACH ROW
	WHEN (OLD.display_name IS DISTINCT FROM NEW.display_name OR OLD.email IS DISTINCT FROM NEW.email)
	EXECUTE FUNCTION search_tokens_stale();

-- +goose Down
DROP TRIGGER users_search_stale ON users;
DROP FUNCTION search_tokens_stale();
DROP TRIGGER data_keys_search_shredded ON data_keys;
DROP FUNCTION search_tokens_shredded();
ALTER TABLE users DROP COLUMN search_tokens;
ALTER TABLE messages DROP COLUMN search_tokens;
ALTER TABLE threads DROP COLUMN search_tokens;
