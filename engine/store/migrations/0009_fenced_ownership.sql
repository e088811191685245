-- Fenced ownership (issue 19, engine.store.recovery states the rules).
-- up_since: since when this registration's heartbeats have been continuous (reset by the
-- heartbeat itself, with the database clock, after a gap longer than the allowed one). A
-- process may declare another dead only once its own up_since is dead_after old, so after
-- a database outage every process gets dead_after to renew before anyone claims.
ALTER TABLE workers ADD COLUMN up_since timestamptz NOT NULL DEFAULT now();
