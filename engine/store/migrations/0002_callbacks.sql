-- Owed callbacks. A row exists from the moment a callback is owed until it is delivered
-- or given up. Rows are written by triggers in the SAME transaction as the status change
-- (or the complaint), so a committed status always has its callback committed with it: a
-- crash (even SIGKILL) between the status write and the callback cannot lose it.
CREATE TABLE callback_queue (
    seq                bigserial PRIMARY KEY,  -- queue order; per notification, status order
    service_id         uuid NOT NULL REFERENCES services(id),
    callback_type      text NOT NULL CHECK (callback_type IN ('delivery_status', 'complaint')),
    notification_id    uuid NOT NULL,
    status             text,
    notification_type  text,
    recipient          text NOT NULL,
    client_reference   text,
    template_id        uuid,
    template_version   integer,
    provider_response  text,
    created_at         timestamptz,
    sent_at            timestamptz,
    completed_at       timestamptz,  -- status: the notification's updated_at; complaint: its date
    complaint_id       uuid,
    attempts           integer NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    -- The engine process holding the row in memory (a worker id); NULL = nobody. Rows of
    -- a dead worker are claimed by the others, as for notifications.
    owner              uuid,
    queued_at          timestamptz NOT NULL DEFAULT now()
);
-- A later callback of a notification waits until the earlier ones are ours or gone.
CREATE INDEX callback_queue_notification_idx ON callback_queue (notification_id, seq);
CREATE INDEX callback_queue_owner_idx ON callback_queue (owner) WHERE owner IS NOT NULL;

-- One statement-level trigger per UPDATE statement (the store updates in batches), so the
-- cost is one INSERT ... SELECT per batch, not one call per row. The status list mirrors
-- engine.domain.callbacks.CALLBACK_STATUSES.
CREATE FUNCTION queue_status_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
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
                  WHERE c.service_id = n.service_id AND c.callback_type = 'delivery_status')
    ORDER BY n.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER notifications_status_callbacks
    AFTER UPDATE ON notifications
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_status_callbacks();

-- Complaint callbacks: queued in the transaction that records the complaint (only rows
-- really inserted appear in new_rows, so a redelivered complaint is not called back twice).
CREATE FUNCTION queue_complaint_callbacks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO callback_queue (service_id, callback_type, notification_id, notification_type,
        recipient, client_reference, completed_at, complaint_id)
    SELECT n.service_id, 'complaint', n.id, n.notification_type, n.recipient,
           n.client_reference, c.complaint_date, c.id
    FROM new_rows c JOIN notifications n ON n.id = c.notification_id
    WHERE EXISTS (SELECT 1 FROM service_callbacks s
                  WHERE s.service_id = n.service_id AND s.callback_type = 'complaint')
    ORDER BY c.complaint_date, c.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER complaints_callbacks
    AFTER INSERT ON complaints
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_complaint_callbacks();
