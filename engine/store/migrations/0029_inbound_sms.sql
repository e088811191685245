-- Inbound SMS and opt-outs (issue 24; GC asked in cds-snc/notification-api #735, #809).
--
-- services.inbound_number: the E.164 number a service receives texts on (set by the admin
-- API); one service per number. inbound_sms: the texts received, newest first by
-- (created_at, id) for GET /v2/received-text-messages; user_number and content are
-- sealed (engine.store.sealing), bound to (id, column); provider_reference (SNS's
-- inboundMessageId) makes a redelivered message a no-op. Kept as long as the service's
-- SMS notifications (engine.store.inbound). sms_opt_outs: the numbers that texted STOP /
-- ARRET, as keyed hashes (never the clear number: the sealing rules).
ALTER TABLE services ADD COLUMN inbound_number text UNIQUE;

CREATE TABLE inbound_sms (
    id                 uuid PRIMARY KEY,
    service_id         uuid NOT NULL REFERENCES services(id),
    notify_number      text NOT NULL,
    user_number        text NOT NULL,
    content            text NOT NULL,
    provider_reference text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX inbound_sms_service_created ON inbound_sms (service_id, created_at DESC, id DESC);

CREATE TABLE sms_opt_outs (
    service_id  uuid NOT NULL REFERENCES services(id),
    number_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, number_hash)
);

-- The inbound_sms callback (GC's callback type of that name): queued by
-- engine.store.inbound in the statement that stores the text, when the service has one.
ALTER TABLE service_callbacks DROP CONSTRAINT service_callbacks_callback_type_check,
    ADD CONSTRAINT service_callbacks_callback_type_check
        CHECK (callback_type IN ('delivery_status', 'complaint', 'inbound_sms'));
ALTER TABLE callback_queue DROP CONSTRAINT callback_queue_callback_type_check,
    ADD CONSTRAINT callback_queue_callback_type_check
        CHECK (callback_type IN ('delivery_status', 'complaint', 'inbound_sms'));
