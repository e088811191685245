-- Callback state a service team can see (issue 23): which statuses an endpoint wants, and
-- when it last answered and last failed (written by each engine process every few
-- seconds, the latest wins).
ALTER TABLE service_callbacks
    ADD COLUMN statuses        text[],       -- NULL: every callback status
    ADD COLUMN last_success_at timestamptz,
    ADD COLUMN last_failure_at timestamptz,
    ADD COLUMN last_failure    text;

-- The status trigger of migration 0002, now honouring an endpoint's chosen statuses.
CREATE OR REPLACE FUNCTION queue_status_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_queue (service_id, callback_type, notification_id, status,
        notification_type, recipient, client_reference, template_id, template_version,
        provider_response, created_at, sent_at, completed_at)
    SELECT n.service_id, 'delivery_status', n.id, n.status, n.notification_type, n.recipient,
           n.client_reference, n.template_id, n.template_version, n.provider_response,
           n.created_at, n.sent_at, n.updated_at
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

-- The last success and failure are written every few seconds while an endpoint is busy:
-- they are not configuration, so they must not send migration 0010's service_changes
-- notice (every process would reload the service each time). Only a change to what the
-- registry caches of an endpoint does.
DROP TRIGGER service_callbacks_updated ON service_callbacks;
CREATE TRIGGER service_callbacks_updated AFTER UPDATE ON service_callbacks FOR EACH ROW
    WHEN ((OLD.service_id, OLD.callback_type, OLD.url, OLD.bearer_sealed, OLD.signing_sealed,
           OLD.suspended_at, OLD.statuses)
          IS DISTINCT FROM
          (NEW.service_id, NEW.callback_type, NEW.url, NEW.bearer_sealed, NEW.signing_sealed,
           NEW.suspended_at, NEW.statuses))
    EXECUTE FUNCTION notify_service_change();
