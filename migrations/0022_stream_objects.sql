-- +goose Up
-- Attachment streams in object storage (issue 17, PORTAL_BLOB_URL=s3://):
-- a stream whose data key has a row here is the object `name` in the
-- bucket instead of rows in data_chunks. Shredding the key (recall,
-- retention) deletes this row with it, and the trigger lists the object
-- for deletion; so does an upload whose transaction never committed. The
-- blob_garbage job deletes what is listed, retrying until the bucket
-- answers (a shredded key already makes the object unreadable).
CREATE TABLE stream_objects (
	data_key_id uuid PRIMARY KEY REFERENCES data_keys (id) ON DELETE CASCADE,
	name        text NOT NULL UNIQUE,
	created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE blob_garbage (
	name   text PRIMARY KEY,
	-- shredded: delete at once; upload: an upload listed before it began,
	-- removed from the list when its transaction commits; still here an
	-- hour later, it never did.
	reason text NOT NULL CHECK (reason IN ('shredded', 'upload')),
	since  timestamptz NOT NULL DEFAULT now()
);
-- +goose StatementBegin
CREATE FUNCTION stream_object_shredded() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO blob_garbage (name, reason) VALUES (OLD.name, 'shredded')
		ON CONFLICT (name) DO UPDATE SET reason = 'shredded', since = now();
	RETURN OLD;
END $$;
-- +goose StatementEnd
CREATE TRIGGER stream_objects_shredded AFTER DELETE ON stream_objects FOR EACH ROW EXECUTE FUNCTION stream_object_shredded();

-- +goose Down
DROP TRIGGER stream_objects_shredded ON stream_objects;
DROP FUNCTION stream_object_shredded();
DROP TABLE blob_garbage;
DROP TABLE stream_objects;
