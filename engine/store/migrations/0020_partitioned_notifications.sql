-- Issue 21: `notifications` partitioned by time (declarative RANGE on created_at, one
-- partition per UTC day), so retention drops a whole day with DROP TABLE instead of
-- deleting it row by row, and the working set stays flat (engine.store.partitions states
-- the housekeeping rules; bench/soak.py measures it).
--
-- On a populated database no row is copied: the old table becomes the first partition,
-- `notifications_legacy`, covering everything before the end of today (or of its newest
-- row); daily partitions follow. Attaching it scans it once to check the bound, and its
-- indexes are rebuilt in the new shape (the primary key must hold the partition key).
-- The legacy partition is dropped like any other once every service's retention is past
-- its end.
--
-- Indexes (HOT updates, measured by bench/storage.py and bench/soak.py):
-- - a status write is a HOT update only if no index names a column it changes (status,
--   owner, provider, provider_reference, sent_at, updated_at) AND the page has room;
--   partitions are created with fillfactor 80 for that room;
-- - the primary key is (id, created_at): a lookup by id also names the time range its
--   time-ordered id gives (engine.domain.notification.created_window), so it probes one
--   partition.
ALTER TABLE notifications RENAME TO notifications_legacy;
DROP TRIGGER notifications_status_callbacks ON notifications_legacy;
ALTER TABLE notifications_legacy DROP CONSTRAINT notifications_pkey;
DO $$
DECLARE
    i record;
BEGIN
    FOR i IN SELECT indexrelid::regclass::text AS name FROM pg_index
             WHERE indrelid = 'notifications_legacy'::regclass
    LOOP
        EXECUTE format('DROP INDEX %s', i.name);
    END LOOP;
END
$$;

CREATE TABLE notifications (LIKE notifications_legacy INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (created_at);
ALTER TABLE notifications ADD PRIMARY KEY (id, created_at);
-- List endpoint and the per-row purge: per service and key type, newest first.
CREATE INDEX notifications_list_idx ON notifications (service_id, key_type, created_at DESC);
CREATE INDEX notifications_reference_idx ON notifications (service_id, client_reference)
    WHERE client_reference IS NOT NULL;
-- Receipts look rows up by the provider's message id.
CREATE INDEX notifications_provider_ref_idx ON notifications (provider_reference)
    WHERE provider_reference IS NOT NULL;
-- Recovery sweeps: only rows not yet final are indexed, so the index stays small.
CREATE INDEX notifications_unfinished_idx ON notifications (status, created_at)
    WHERE status IN ('created', 'sending', 'pending', 'sent');
CREATE INDEX notifications_unowned_idx ON notifications (scheduled_for, created_at)
    WHERE status = 'created' AND owner IS NULL;
CREATE INDEX notifications_job_row_idx ON notifications (job_id, job_row_number)
    WHERE job_id IS NOT NULL;

-- The status callbacks (0012's function, which carries 0002/0015's rules and the per-send
-- callback URL), on the partitioned table (a statement trigger's transition tables see the
-- rows of every partition the statement changed).
CREATE TRIGGER notifications_status_callbacks
    AFTER UPDATE ON notifications
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION queue_delivery_status_callbacks();

-- The partitions there are, written in the transaction that creates or drops one.
-- `starts` NULL: from the beginning (the legacy partition).
CREATE TABLE notification_partitions (
    name    text PRIMARY KEY,
    starts  timestamptz,
    ends    timestamptz NOT NULL UNIQUE
);

-- Create daily partitions until `upto` is covered; returns how many were made. Many
-- processes may call it at once: the transaction lock serialises them, and the later
-- ones find the days made. At most 400 a call (a bounded loop).
CREATE FUNCTION notify_create_partitions(upto timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    day_start timestamptz;
    day_end timestamptz;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(1852797984);  -- 'nopa': partition housekeeping
    SELECT max(ends) INTO day_start FROM notification_partitions;
    WHILE day_start < upto AND made < 400 LOOP
        day_end := ((day_start AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC';
        EXECUTE format('CREATE TABLE %I PARTITION OF notifications FOR VALUES FROM (%L) TO (%L)'
                       ' WITH (fillfactor = 80)',
                       'notifications_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD'),
                       day_start, day_end);
        INSERT INTO notification_partitions (name, starts, ends)
        VALUES ('notifications_p' || to_char(day_start AT TIME ZONE 'UTC', 'YYYYMMDD'),
                day_start, day_end);
        day_start := day_end;
        made := made + 1;
    END LOOP;
    RETURN made;
END
$$;

-- Drop the oldest partition if it ends at or before `before` (every row in it is past
-- every service's retention): its rows are counted into notification_stats as the per-row
-- purge counts them, their documents and owed callbacks deleted, then the table dropped,
-- all in one transaction. Writes to that partition wait for the commit (SHARE lock), so
-- no status change slips between the count and the drop. Returns the rows it held, or
-- NULL if there was nothing to drop.
CREATE FUNCTION notify_drop_oldest_partition(before timestamptz) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    victim text;
    held bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(1852797984);
    SELECT name INTO victim FROM notification_partitions
    WHERE ends <= before ORDER BY ends LIMIT 1;
    IF victim IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE format('LOCK TABLE %I IN SHARE MODE', victim);
    EXECUTE format('SELECT count(*) FROM %I', victim) INTO held;
    EXECUTE format(
        'INSERT INTO notification_stats AS s (service_id, day, template_id, notification_type,'
        '    key_type, status, notifications, billable_units)'
        ' SELECT service_id, (created_at AT TIME ZONE ''UTC'')::date, template_id,'
        '        notification_type, key_type, status, count(*), sum(billable_units)'
        ' FROM %I GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6'
        ' ON CONFLICT (service_id, day, template_id, notification_type, key_type, status)'
        ' DO UPDATE SET notifications = s.notifications + excluded.notifications,'
        '               billable_units = s.billable_units + excluded.billable_units', victim);
    EXECUTE format('DELETE FROM documents WHERE notification_id IN (SELECT id FROM %I)', victim);
    EXECUTE format('DELETE FROM callback_queue WHERE notification_id IN (SELECT id FROM %I)',
                   victim);
    EXECUTE format('DROP TABLE %I', victim);
    DELETE FROM notification_partitions WHERE name = victim;
    RETURN held;
END
$$;

-- The old table becomes the partition of everything before the end of today (or of its
-- newest row, if a clock ran ahead), then daily partitions a week ahead.
DO $$
DECLARE
    boundary timestamptz;
BEGIN
    SELECT ((date_trunc('day', greatest(now(), max(created_at)) AT TIME ZONE 'UTC')
             + interval '1 day') AT TIME ZONE 'UTC')
    INTO boundary FROM notifications_legacy;
    EXECUTE format('ALTER TABLE notifications ATTACH PARTITION notifications_legacy'
                   ' FOR VALUES FROM (MINVALUE) TO (%L)', boundary);
    ALTER TABLE notifications_legacy SET (fillfactor = 80);
    INSERT INTO notification_partitions (name, starts, ends)
    VALUES ('notifications_legacy', NULL, boundary);
    PERFORM notify_create_partitions(boundary + interval '7 days');
END
$$;
