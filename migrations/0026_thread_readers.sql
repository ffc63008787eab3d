-- +goose Up
-- A staff member's unread messages in a thread, kept as counts (issue 12):
-- the staff inbox's "Unread" filter and each row's unread count were a
-- look at every message of every candidate thread against the reader's
-- receipts, a cost that grew with the archive (docs/PERFORMANCE.md). For
-- reader U and thread t,
--
--   unread(U, t) = t.live_messages - sent(U, t) - read(U, t)
--
-- live_messages: the thread's messages not withdrawn; sent: those of them
-- U sent; read: those of them sent by someone else that U has a receipt
-- for. That is exactly the count of messages not U's, not withdrawn and
-- without U's receipt (postgres.unreadMessagesSQL, which the tests compare
-- it with). Triggers keep the counts in the transaction that changes the
-- rows; messages and receipts are never deleted (recall and retention keep
-- the rows), so inserts and a recall are all there is to follow.
ALTER TABLE threads ADD COLUMN live_messages integer NOT NULL DEFAULT 0;

CREATE TABLE thread_readers (
	user_id   bigint NOT NULL REFERENCES users (id),
	thread_id uuid NOT NULL REFERENCES threads (id) ON DELETE CASCADE,
	sent      integer NOT NULL DEFAULT 0,
	read      integer NOT NULL DEFAULT 0,
	PRIMARY KEY (user_id, thread_id)
);

-- +goose StatementBegin
CREATE FUNCTION thread_readers_messages_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE threads t SET live_messages = t.live_messages + n.c
	FROM (SELECT thread_id, count(*) AS c FROM added WHERE recalled_at IS NULL GROUP BY thread_id) n
	WHERE t.id = n.thread_id;
	INSERT INTO thread_readers AS r (user_id, thread_id, sent)
	SELECT sender_id, thread_id, count(*) FROM added WHERE recalled_at IS NULL GROUP BY sender_id, thread_id
	ON CONFLICT (user_id, thread_id) DO UPDATE SET sent = r.sent + excluded.sent;
	RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER thread_readers_messages_added AFTER INSERT ON messages
	REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION thread_readers_messages_added();

-- A receipt counts only for a message not withdrawn. The message is
-- locked (FOR SHARE) while it is counted, so a recall either commits first
-- (and the receipt is not counted) or waits and then finds the receipt to
-- take back: never a receipt counted for a withdrawn message.
-- +goose StatementBegin
CREATE FUNCTION thread_readers_receipts_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO thread_readers AS r (user_id, thread_id, read)
	SELECT x.user_id, x.thread_id, count(*) FROM (
		SELECT a.user_id, m.thread_id FROM added a JOIN messages m ON m.id = a.message_id
		WHERE m.recalled_at IS NULL AND m.sender_id <> a.user_id
		ORDER BY m.id FOR SHARE OF m) x
	GROUP BY x.user_id, x.thread_id
	ON CONFLICT (user_id, thread_id) DO UPDATE SET read = r.read + excluded.read;
	RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER thread_readers_receipts_added AFTER INSERT ON message_reads
	REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION thread_readers_receipts_added();

-- A recall takes the message out of every count it was in.
-- +goose StatementBegin
CREATE FUNCTION thread_readers_message_recalled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	UPDATE threads SET live_messages = live_messages - 1 WHERE id = NEW.thread_id;
	UPDATE thread_readers SET sent = sent - 1 WHERE user_id = NEW.sender_id AND thread_id = NEW.thread_id;
	UPDATE thread_readers r SET read = r.read - 1
	FROM message_reads x WHERE x.message_id = NEW.id AND x.user_id <> NEW.sender_id
		AND r.user_id = x.user_id AND r.thread_id = NEW.thread_id;
	RETURN NULL;
END $$;
-- +goose StatementEnd
CREATE TRIGGER thread_readers_message_recalled AFTER UPDATE OF recalled_at ON messages
	FOR EACH ROW WHEN (OLD.recalled_at IS NULL AND NEW.recalled_at IS NOT NULL)
	EXECUTE FUNCTION thread_readers_message_recalled();

-- The counts of what is already stored.
UPDATE threads t SET live_messages = n.c
FROM (SELECT thread_id, count(*) AS c FROM messages WHERE recalled_at IS NULL GROUP BY thread_id) n
WHERE t.id = n.thread_id;
INSERT INTO thread_readers (user_id, thread_id, sent, read)
SELECT user_id, thread_id, sum(sent), sum(read) FROM (
	SELECT sender_id AS user_id, thread_id, count(*) AS sent, 0 AS read FROM messages
	WHERE recalled_at IS NULL GROUP BY sender_id, thread_id
	UNION ALL
	SELECT x.user_id, m.thread_id, 0, count(*) FROM message_reads x JOIN messages m ON m.id = x.message_id
	WHERE m.recalled_at IS NULL AND m.sender_id <> x.user_id GROUP BY x.user_id, m.thread_id) c
GROUP BY user_id, thread_id;

-- +goose Down
DROP TRIGGER thread_readers_message_recalled ON messages;
DROP TRIGGER thread_readers_receipts_added ON message_reads;
DROP TRIGGER thread_readers_messages_added ON messages;
DROP FUNCTION thread_readers_message_recalled();
DROP FUNCTION thread_readers_receipts_added();
DROP FUNCTION thread_readers_messages_added();
DROP TABLE thread_readers;
ALTER TABLE threads DROP COLUMN live_messages;
