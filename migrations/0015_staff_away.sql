-- +goose Up
-- A representative's out-of-office (issue 14), set on their account page:
-- from starts_at until ends_at, a provider's new message to a thread they
-- own notifies the thread's team instead, and the thread shows as
-- unassigned. One period per representative; clearing it deletes the row.
CREATE TABLE staff_away (
	user_id   bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	starts_at timestamptz NOT NULL,
	ends_at   timestamptz NOT NULL,
	CHECK (ends_at > starts_at)
);

-- +goose Down
DROP TABLE staff_away;
