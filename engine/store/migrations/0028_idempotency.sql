-- Idempotency-Key (issue 24): the first answer to a POST of the v2 API, per service, API
-- key and client key, kept 24 h (housekeeping deletes older rows).
--
-- A row is a claim while status IS NULL (the first request is in flight, taken by
-- ``token``), then the stored answer. A claim whose holder died lapses after a lease
-- (engine.store.idempotency). The answer of a notification POST is written in the
-- notification's own transaction (engine.store.store), so a committed 201 always has its
-- row and a row always has its notification. ``response`` is sealed (it can hold the
-- message), bound to (token, 'response').
CREATE TABLE idempotency_keys (
    service_id  uuid NOT NULL,
    api_key_id  uuid NOT NULL,
    key         text NOT NULL,
    fingerprint bytea NOT NULL,
    token       uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    status      smallint,
    response    bytea,
    PRIMARY KEY (service_id, api_key_id, key)
);
CREATE INDEX idempotency_keys_claimed_at ON idempotency_keys (claimed_at);
