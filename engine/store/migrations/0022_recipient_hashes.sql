-- Keyed hashes of recipients (issue 21): lookups compare an HMAC-SHA256 (16 bytes) of the
-- normalised recipient, computed by the engine with a key derived from the data keys
-- (engine.crypto.DataKeys.recipient_hash), never the clear value, which stays sealed.
-- Additive only (works on a partitioned notifications table too). Rows written before
-- this migration have NULL hashes: the registry hashes such team members in memory when
-- it loads them, and `python -m engine data reencrypt` fills every missing hash.
ALTER TABLE notifications ADD COLUMN recipient_hash bytea;
ALTER TABLE team_members ADD COLUMN email_hash bytea, ADD COLUMN mobile_hash bytea;
-- Notifications of a service by recipient, newest first (engine.store.notifications
-- .by_recipient: the coming console's search, the v2 list's filter). service_id first:
-- the distribution column (README, "Ready for more than one database server"). Partial
-- (WHERE recipient_hash IS NOT NULL), so that only a query naming the hash can use it:
-- other per-service scans (the purge, the list) keep their own indexes, not this one.
CREATE INDEX notifications_recipient_hash_idx
    ON notifications (service_id, recipient_hash, created_at DESC)
    WHERE recipient_hash IS NOT NULL;
