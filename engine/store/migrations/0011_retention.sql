-- Data retention (issue 21). A service keeps its notifications for `days_of_retention`
-- days per channel (3 to 90; 7 when the service has no row here, as GC and GOV.UK do).
-- The purge (engine.store.retention) deletes older notifications with their documents and
-- owed callbacks, after rolling their counts into notification_stats.
CREATE TABLE service_data_retention (
    service_id         uuid NOT NULL REFERENCES services(id),
    notification_type  text NOT NULL CHECK (notification_type IN ('email', 'sms')),
    days_of_retention  integer NOT NULL CHECK (days_of_retention BETWEEN 3 AND 90),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz,
    PRIMARY KEY (service_id, notification_type)
);

-- Counts of purged notifications: per UTC day of creation, service, template, channel,
-- key type and final status. No personal data. Keyed by service first (the distribution
-- column if the schema is ever distributed).
CREATE TABLE notification_stats (
    service_id         uuid NOT NULL,
    day                date NOT NULL,
    template_id        uuid NOT NULL,
    notification_type  text NOT NULL,
    key_type           text NOT NULL,
    status             text NOT NULL,
    notifications      bigint NOT NULL,
    billable_units     bigint NOT NULL,
    PRIMARY KEY (service_id, day, template_id, notification_type, key_type, status)
);
