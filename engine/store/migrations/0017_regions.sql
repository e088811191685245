-- A service's region (issue 22): the phone region whose local formats a number without
-- "+" is read in (ISO 3166 alpha-2, e.g. 'AU'), and its IANA time zone (its local day:
-- the daily limits reset at its local midnight; a scheduled_for without an offset is read
-- in it). NULL: the deployment's default (NOTIFY_DEFAULT_PHONE_REGION,
-- NOTIFY_DEFAULT_TIME_ZONE). The admin API checks both against phonenumbers and zoneinfo;
-- the database only keeps them well formed.
ALTER TABLE services
    ADD COLUMN phone_region text CHECK (phone_region ~ '^[A-Z]{2}$'),
    ADD COLUMN time_zone text CHECK (time_zone <> '' AND length(time_zone) <= 64);
