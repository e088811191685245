-- The console's people, second part (issue 27): invitations, second-factor choices, the
-- per-address sign-in limit.
--
-- console_invitations: an invitation of an email address to a service with a set of roles.
--   The address is sealed (bound to the row's id) and found through email_hash, the keyed
--   hash of the lower-case address: one pending invitation per (service, address), a new
--   one replaces it (new token, roles, expiry). The link's token is kept only as its
--   SHA-256 (token_hash); accepting deletes the row (single use); expires_at is absolute.
-- console_users, new columns: second_factor is how the sign-in's second step is given
--   ('email' code, the default; 'sms' code to phone; 'totp' from an authenticator app).
--   totp_secret (sealed, bound to the user's id and the column) takes effect only once a
--   first code confirmed it: until then it waits in totp_pending. totp_last_step is the
--   last accepted TOTP time step: a code of that step or an earlier one is refused (no
--   replay). phone (sealed) receives the SMS code; phone_pending / phone_code_hash /
--   phone_code_expires hold a number being confirmed by the code sent to it.
-- console_address_failures: one row per failed sign-in step from a client address, the
--   address as its keyed hash (personal data); counted over a sliding window so that the
--   limit holds on every process behind the ingress; rows older than the window go at
--   each sign-in (an indexed range).
CREATE TABLE console_invitations (
    id uuid PRIMARY KEY,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    email_hash bytea NOT NULL,
    email text NOT NULL,
    roles text[] NOT NULL CHECK (roles <@ ARRAY[
        'view', 'send', 'manage_templates', 'manage_api_keys', 'manage_settings']::text[]),
    token_hash bytea NOT NULL UNIQUE,
    invited_by uuid REFERENCES console_users (id) ON DELETE SET NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (service_id, email_hash)
);

ALTER TABLE console_users
    ADD COLUMN second_factor text NOT NULL DEFAULT 'email'
        CHECK (second_factor IN ('email', 'sms', 'totp')),
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_pending text,
    ADD COLUMN totp_last_step bigint,
    ADD COLUMN phone text,
    ADD COLUMN phone_pending text,
    ADD COLUMN phone_code_hash bytea,
    ADD COLUMN phone_code_expires timestamptz;

CREATE TABLE console_address_failures (
    address_hash bytea NOT NULL,
    failed_at timestamptz NOT NULL
);
CREATE INDEX console_address_failures_idx ON console_address_failures (address_hash, failed_at);
CREATE INDEX console_address_failures_time_idx ON console_address_failures (failed_at);
