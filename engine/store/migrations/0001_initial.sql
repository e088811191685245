-- Services, their keys, templates, senders, callbacks and team members.
CREATE TABLE services (
    id                  uuid PRIMARY KEY,
    name                text NOT NULL,
    email_from          text NOT NULL,
    sending_domain      text,
    restricted          boolean NOT NULL DEFAULT true,
    active              boolean NOT NULL DEFAULT true,
    suspended           boolean NOT NULL DEFAULT false,
    rate_limit          integer NOT NULL DEFAULT 1000,
    email_daily_limit   integer NOT NULL DEFAULT 10000,
    sms_daily_limit     integer NOT NULL DEFAULT 1500,
    email_annual_limit  integer NOT NULL DEFAULT 20000000,
    sms_annual_limit    integer NOT NULL DEFAULT 100000,
    prefix_sms          boolean NOT NULL DEFAULT true,
    international_sms   boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id               uuid PRIMARY KEY,
    service_id       uuid NOT NULL REFERENCES services(id),
    name             text NOT NULL,
    key_type         text NOT NULL CHECK (key_type IN ('normal', 'team', 'test')),
    secret_sealed    bytea NOT NULL,  -- encrypted with NOTIFY_SECRET_KEY; JWT checks need the plain secret
    secret_digest    bytea NOT NULL UNIQUE,  -- sha256 of the secret, for ApiKey-v1 lookups
    created_at       timestamptz NOT NULL DEFAULT now(),
    expiry_date      timestamptz  -- set = revoked
);
CREATE INDEX api_keys_service_idx ON api_keys (service_id);

CREATE TABLE templates (
    id            uuid PRIMARY KEY,
    service_id    uuid NOT NULL REFERENCES services(id),
    name          text NOT NULL,
    template_type text NOT NULL CHECK (template_type IN ('email', 'sms')),
    subject       text,
    content       text NOT NULL,
    process_type  text NOT NULL DEFAULT 'normal' CHECK (process_type IN ('priority', 'normal', 'bulk')),
    version       integer NOT NULL DEFAULT 1,
    archived      boolean NOT NULL DEFAULT false,
    created_by    text NOT NULL DEFAULT 'admin',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz
);
CREATE INDEX templates_service_idx ON templates (service_id);

-- Every version ever published; a notification renders the version it was created with.
CREATE TABLE template_versions (
    template_id   uuid NOT NULL REFERENCES templates(id),
    version       integer NOT NULL,
    service_id    uuid NOT NULL REFERENCES services(id),
    name          text NOT NULL,
    template_type text NOT NULL,
    subject       text,
    content       text NOT NULL,
    process_type  text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (template_id, version)
);

CREATE TABLE reply_to_addresses (
    id            uuid PRIMARY KEY,
    service_id    uuid NOT NULL REFERENCES services(id),
    email_address text NOT NULL,
    is_default    boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reply_to_service_idx ON reply_to_addresses (service_id);

CREATE TABLE sms_senders (
    id          uuid PRIMARY KEY,
    service_id  uuid NOT NULL REFERENCES services(id),
    sms_sender  text NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sms_senders_service_idx ON sms_senders (service_id);

CREATE TABLE service_callbacks (
    service_id        uuid NOT NULL REFERENCES services(id),
    callback_type     text NOT NULL CHECK (callback_type IN ('delivery_status', 'complaint')),
    url               text NOT NULL,
    bearer_sealed     bytea NOT NULL,  -- encrypted bearer token
    signing_sealed    bytea,           -- optional HMAC secret, encrypted
    suspended_at      timestamptz,
    suspended_reason  text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, callback_type)
);

CREATE TABLE team_members (
    id             uuid PRIMARY KEY,
    service_id     uuid NOT NULL REFERENCES services(id),
    email_address  text,
    mobile_number  text,  -- E.164
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX team_members_service_idx ON team_members (service_id);

CREATE TABLE jobs (
    id                   uuid PRIMARY KEY,
    service_id           uuid NOT NULL REFERENCES services(id),
    template_id          uuid NOT NULL,
    template_version     integer NOT NULL,
    api_key_id           uuid,
    original_file_name   text NOT NULL,
    notification_count   integer NOT NULL,
    job_status           text NOT NULL,
    scheduled_for        timestamptz,
    sender_id            uuid,
    processing_started   timestamptz,
    processing_finished  timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz
);
CREATE INDEX jobs_service_idx ON jobs (service_id, created_at);

CREATE TABLE notifications (
    id                  uuid PRIMARY KEY,
    service_id          uuid NOT NULL,
    template_id         uuid NOT NULL,
    template_version    integer NOT NULL,
    api_key_id          uuid,
    key_type            text NOT NULL,
    notification_type   text NOT NULL,
    recipient           text NOT NULL,
    status              text NOT NULL,
    client_reference    text,
    personalisation     jsonb,
    subject             text,
    body                text NOT NULL,
    reply_to_text       text,
    process_type        text NOT NULL DEFAULT 'normal',
    billable_units      integer NOT NULL DEFAULT 1,
    job_id              uuid,
    job_row_number      integer,
    scheduled_for       timestamptz,
    unsubscribe_url     text,
    -- The engine process whose memory holds this notification while it is `created` or
    -- `sending`; NULL = nobody (scheduled, overflowed, released at shutdown). Recovery
    -- claims rows whose owner is NULL or dead, so a live process's queue is never resent.
    owner               uuid,
    provider            text,
    provider_reference  text,
    provider_response   text,
    feedback_type       text,
    feedback_subtype    text,
    created_at          timestamptz NOT NULL,
    sent_at             timestamptz,
    updated_at          timestamptz
);
-- List endpoint: per service and key type, newest first.
CREATE INDEX notifications_list_idx ON notifications (service_id, key_type, created_at DESC);
CREATE INDEX notifications_reference_idx ON notifications (service_id, client_reference)
    WHERE client_reference IS NOT NULL;
-- Receipts look rows up by the provider's message id.
CREATE INDEX notifications_provider_ref_idx ON notifications (provider_reference)
    WHERE provider_reference IS NOT NULL;
-- Recovery sweeps: only rows not yet final are indexed, so the index stays small.
CREATE INDEX notifications_unfinished_idx ON notifications (status, created_at)
    WHERE status IN ('created', 'sending', 'pending', 'sent');
CREATE INDEX notifications_unowned_idx ON notifications (scheduled_for, created_at)
    WHERE status = 'created' AND owner IS NULL;
CREATE INDEX notifications_job_idx ON notifications (job_id) WHERE job_id IS NOT NULL;

-- Engine processes and their heartbeats; a worker silent for longer than the recovery
-- timeout is dead and its notifications are claimed by the others.
CREATE TABLE workers (
    id            uuid PRIMARY KEY,
    hostname      text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    id                 uuid PRIMARY KEY,
    notification_id    uuid NOT NULL,
    service_id         uuid NOT NULL,
    feedback_type      text,
    complaint_date     timestamptz NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX complaints_service_idx ON complaints (service_id, created_at);
