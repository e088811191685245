-- GC's status descriptions (issue 24): an email refused by a suppression list reads
-- "Blocked", which depends on the bounce's subtype. The delivery-status callback is built
-- from its callback_queue row, so the row carries the subtype too, copied by the status
-- trigger (0012's queue_delivery_status_callbacks(), unchanged otherwise: the function the
-- trigger calls since 0012; 0015's queue_status_callbacks() is no longer used) and by a
-- replay (engine.store.callbacks).
ALTER TABLE callback_queue ADD COLUMN feedback_subtype text;

CREATE OR REPLACE FUNCTION queue_delivery_status_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_queue (service_id, callback_type, notification_id, status,
        notification_type, recipient, client_reference, template_id, template_version,
        provider_response, created_at, sent_at, completed_at, feedback_subtype, callback_url,
        callback_origin)
    SELECT n.service_id, 'delivery_status', n.id, n.status, n.notification_type, n.recipient,
           n.client_reference, n.template_id, n.template_version, n.provider_response,
           n.created_at, n.sent_at, n.updated_at, n.feedback_subtype, n.callback_url,
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

-- GOV.UK's files (issue 24, the python client's prepare_upload): a link can require the
-- recipient to confirm their email address before the download; the address it must
-- match is kept with the document, sealed like its name (engine.store.sealing), and NULL
-- when no confirmation is asked for.
ALTER TABLE documents ADD COLUMN confirm_email text;
