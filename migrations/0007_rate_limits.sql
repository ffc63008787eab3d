-- +goose Up
-- Per-client request counts for the rate-limited doors (sign-in, forgot
-- password, emailed links), shared by every instance of the portal so that
-- a balancer does not multiply the limit. One row per key per minute; rows
-- older than two minutes are swept. UNLOGGED: losing the counts in a crash
-- costs nothing, and it spares the WAL a write per sign-in attempt.
CREATE UNLOGGED TABLE rate_limits (
	key          text        NOT NULL,
	window_start timestamptz NOT NULL,
	hits         integer     NOT NULL,
	PRIMARY KEY (key, window_start)
);

-- +goose Down
DROP TABLE rate_limits;
