-- +goose Up
-- Events about a user (failed sign-ins, admin actions) are looked up by their
-- target: the account page counts failed sign-ins since the previous one, and
-- the audit viewer filters by the user concerned.
CREATE INDEX audit_events_target_idx ON audit_events (target_type, target_id, at);

-- +goose Down
DROP INDEX audit_events_target_idx;
