-- Reports of a service's notifications, requested through the API (issue 24, GC Notify's
-- /v2/reports). engine.store.reports states the rules.
--
-- reports: one row per request. status goes requested -> generating -> ready (or error).
-- attempt and lease_until fence the generation: a process claims the report (attempt + 1,
-- a lease), every chunk it writes renews the lease only while the attempt is still its
-- own, and only that attempt can mark the report ready; a report whose lease ran out (its
-- process died) is claimed again. Ready reports expire (expires_at) and are deleted.
CREATE TABLE reports (
    id            uuid PRIMARY KEY,
    service_id    uuid NOT NULL REFERENCES services(id),
    report_type   text NOT NULL CHECK (report_type IN ('email', 'sms', 'job')),
    language      text NOT NULL CHECK (language IN ('en', 'fr')),
    job_id        uuid,
    api_key_id    uuid,
    status        text NOT NULL CHECK (status IN ('requested', 'generating', 'ready', 'error')),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    expires_at    timestamptz,
    attempt       integer NOT NULL DEFAULT 0,
    lease_until   timestamptz,
    row_count     bigint
);
-- The list, newest first (GC's order: requested_at, then id).
CREATE INDEX reports_service_idx ON reports (service_id, requested_at DESC, id DESC);
CREATE INDEX reports_expires_idx ON reports (expires_at) WHERE expires_at IS NOT NULL;

-- A report's CSV, in chunks (one page of rows each), sealed: it names recipients
-- (engine.store.sealing: bound to the report id and "content/<attempt>/<seq>").
CREATE TABLE report_chunks (
    report_id  uuid NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    attempt    integer NOT NULL,
    seq        integer NOT NULL,
    content    bytea NOT NULL,
    PRIMARY KEY (report_id, attempt, seq)
);

-- GC's limit of 10 report requests per hour and service, a sliding log shared by every
-- process: the request times of the last hour, in one row per service, updated in one
-- statement under the row's lock (granted: whether the last request was let through).
CREATE TABLE report_requests (
    service_id  uuid PRIMARY KEY,
    times       timestamptz[] NOT NULL,
    granted     boolean NOT NULL
);
