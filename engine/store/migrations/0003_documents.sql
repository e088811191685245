-- Files sent in personalisation (GC: {file, filename, sending_method}). `link` files are
-- downloaded from GET /d/{id} (the id is a random UUID, the only secret) until expires_at;
-- `attach` files are attached to the email at send time, including when recovery rebuilds
-- the message from the database.
CREATE TABLE documents (
    id                uuid PRIMARY KEY,
    service_id        uuid NOT NULL,
    notification_id   uuid NOT NULL,
    personalisation_key text NOT NULL,
    filename          text,
    mime_type         text NOT NULL,
    sending_method    text NOT NULL CHECK (sending_method IN ('attach', 'link')),
    content           bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX documents_notification_idx ON documents (notification_id);
CREATE INDEX documents_expires_idx ON documents (expires_at);

-- Bulk job feeding pages through a job's rows in row order (engine.actors.job_feeder):
-- the job index gains the row number, so each page is an index range scan, not a sort of
-- the job.
DROP INDEX IF EXISTS notifications_job_idx;
CREATE INDEX notifications_job_row_idx ON notifications (job_id, job_row_number)
    WHERE job_id IS NOT NULL;
