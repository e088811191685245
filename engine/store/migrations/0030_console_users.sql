-- The web console's people (issue 27): accounts, their roles per service, sign-in state.
--
-- console_users: one person. Their email address and name are personal data: sealed like a
--   team member's (engine.store.sealing, bound to the row's id), found through email_hash,
--   the keyed hash of the lower-case address (unique: one account per address). A store
--   without data keys (tests of legacy rows only; the engine always has them) writes the
--   address clear and no hash, until re-encryption seals it and fills the hash in.
--   password_hash is argon2id (argon2-cffi's encoded string); platform_admin sees and
--   manages every service. failed_attempts / locked_until: the sign-in lock-out, counted
--   here (not in a process) so that it holds on every process behind the ingress.
-- console_memberships: a user's roles in one service (engine.domain.console.ROLES).
-- console_sessions: a browser's session, found by the SHA-256 of its cookie (the cookie's
--   value is never stored). A session is first "pending" (password checked, waiting for the
--   emailed code, whose SHA-256 is kept in code_hash) and becomes verified once the code
--   is given; a verified session gets a new id (no fixation). expires_at is absolute.
CREATE TABLE console_users (
    id uuid PRIMARY KEY,
    email_hash bytea UNIQUE,
    email text NOT NULL,
    name text NOT NULL,
    password_hash text NOT NULL,
    platform_admin boolean NOT NULL DEFAULT false,
    failed_attempts integer NOT NULL DEFAULT 0,
    locked_until timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE console_memberships (
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    roles text[] NOT NULL DEFAULT '{view}' CHECK (roles <@ ARRAY[
        'view', 'send', 'manage_templates', 'manage_api_keys', 'manage_settings']::text[]),
    PRIMARY KEY (user_id, service_id)
);
CREATE INDEX console_memberships_service_idx ON console_memberships (service_id);

CREATE TABLE console_sessions (
    id_hash bytea PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES console_users (id) ON DELETE CASCADE,
    verified boolean NOT NULL DEFAULT false,
    code_hash bytea,
    code_attempts integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX console_sessions_user_idx ON console_sessions (user_id);
CREATE INDEX console_sessions_expiry_idx ON console_sessions (expires_at);
