-- Per-send callback URLs (issue 23, beyond GC and GOV.UK): a send may name its own
-- delivery-status `callback_url`, on a host of the service's allowlist.
--
-- Numbering: this file was given 0012 after 0014-0018 existed, so a fresh database runs it
-- BEFORE 0015, and an existing one AFTER 0018. Both orders must end in the same schema:
-- - it never replaces queue_status_callbacks() (0015 does, and on a fresh database would
--   undo a change made here): the trigger is pointed at a function of its own instead,
--   queue_delivery_status_callbacks(), which carries 0015's `statuses` rule too (PL/pgSQL
--   resolves columns when it first runs, not when created, so `statuses` need not exist
--   yet). queue_status_callbacks() stays, unused, with 0015's body on both paths. A later
--   migration changing the status trigger must replace queue_delivery_status_callbacks().
-- - columns are added with ADD COLUMN, read by name everywhere (their position differs).

-- The service's allowlist: host names (lower case, exact match, no wildcards) a send's
-- callback_url may name. Empty: no per-send URL is accepted. On `services`, so migration
-- 0010's trigger tells every process when it changes.
ALTER TABLE services ADD COLUMN callback_hosts text[] NOT NULL DEFAULT '{}';

-- The send's own URL (NULL for an ordinary send: no cost but a null bit), and the owed
-- callback's copy of it with its origin (scheme://host[:port], as written at admission:
-- engine.domain.callback_urls.origin), so delivery keys actors and breakers by origin.
ALTER TABLE notifications ADD COLUMN callback_url text;
ALTER TABLE callback_queue ADD COLUMN callback_url text, ADD COLUMN callback_origin text;

-- Per-send origins' state: suspension (25 failures in 300 s, as an endpoint), the URL that
-- tripped it (the probe's target), last success and failure. One row per (service,
-- origin), written by delivery only when something happens to that origin.
CREATE TABLE callback_origins (
    service_id       uuid NOT NULL REFERENCES services(id),
    origin           text NOT NULL,
    url              text,
    suspended_at     timestamptz,
    suspended_reason text,
    last_success_at  timestamptz,
    last_failure_at  timestamptz,
    last_failure     text,
    PRIMARY KEY (service_id, origin)
);

-- 0015's status trigger, plus the send's callback_url and its origin. A per-send URL is
-- honoured only for a service with a delivery-status endpoint (its bearer token and
-- signing secret are used), so the EXISTS rule is unchanged.
CREATE FUNCTION queue_delivery_status_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_queue (service_id, callback_type, notification_id, status,
        notification_type, recipient, client_reference, template_id, template_version,
        provider_response, created_at, sent_at, completed_at, callback_url, callback_origin)
    SELECT n.service_id, 'delivery_status', n.id, n.status, n.notification_type, n.recipient,
           n.client_reference, n.template_id, n.template_version, n.provider_response,
           n.created_at, n.sent_at, n.updated_at, n.callback_url,
           substring(n.callback_url from '^[a-z]+://[^/?#]+')
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE n.status IS DISTINCT FROM o.status
      AND n.status IN ('pending', 'delivered', 'permanent-failure', 'temporary-failure',
                       'technical-failure', 'provider-failure', 'virus-scan-failed',
                       'validation-failed', 'pii-check-failed')
      AND EXISTS (SELECT 1 FROM service_callbacks c
                  WHERE c.service_id = n.service_id AND c.callback_type = 'delivery_status'
                    AND (c.statuses IS NULL OR n.status = ANY(c.statuses)))
    ORDER BY n.id;
    RETURN NULL;
END
$$;

DROP TRIGGER notifications_status_callbacks ON notifications;
CREATE TRIGGER notifications_status_callbacks
    AFTER UPDATE ON notifications
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_delivery_status_callbacks();
