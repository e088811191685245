-- The console's CSV uploads between their check and their send (issue 27).
--
-- A file of recipients is personal data: it is kept only from the check that passed to the
-- send that follows, sealed (engine.store.sealing: content and file name bound to the row's
-- id), bound to the session that uploaded it (a session that ends, by sign-out or expiry,
-- takes its uploads with it: ON DELETE CASCADE) and to its service, and gone at
-- expires_at (deleted at each new upload, an indexed range) or when sent (deleted in the
-- statement that reads it, so a file is sent once).
CREATE TABLE console_uploads (
    id uuid PRIMARY KEY,
    session_hash bytea NOT NULL REFERENCES console_sessions (id_hash) ON DELETE CASCADE,
    service_id uuid NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    template_id uuid NOT NULL,
    file_name text NOT NULL,
    content bytea NOT NULL,
    row_count integer NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX console_uploads_session_idx ON console_uploads (session_hash);
CREATE INDEX console_uploads_expiry_idx ON console_uploads (expires_at);
