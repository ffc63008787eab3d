-- +goose Up
-- The staff inbox's "Awaiting reply" filter (the provider wrote last) reads
-- each source's threads newest first and stops at a page (issue 12). Without
-- an index that holds only such threads, PostgreSQL read and sorted every
-- thread of the team to find them (29 ms a page for a team of 2,000 threads,
-- growing with the archive); these partial indexes give them in order.
CREATE INDEX threads_staff_awaiting_idx ON threads (staff_id, last_message_at DESC, id DESC)
	WHERE last_sender_id = provider_id;
CREATE INDEX threads_team_awaiting_idx ON threads (team_id, last_message_at DESC, id DESC)
	WHERE last_sender_id = provider_id;

-- +goose Down
DROP INDEX threads_team_awaiting_idx;
DROP INDEX threads_staff_awaiting_idx;
