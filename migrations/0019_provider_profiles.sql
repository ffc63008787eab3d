-- +goose Up
-- A provider's profile (issue 15), beside the account's display name: the
-- practice, a phone number and the language they prefer to read in. It
-- describes the provider, not a patient, so it is kept as text. Staff who
-- serve the provider see it on the provider page.
CREATE TABLE provider_profiles (
	user_id  bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
	practice text NOT NULL DEFAULT '',
	phone    text NOT NULL DEFAULT '',
	language text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'es'))
);

-- +goose Down
DROP TABLE provider_profiles;
