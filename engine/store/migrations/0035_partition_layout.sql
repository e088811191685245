-- Issue 21: day partitions laid out for their status writes.
--
-- A notification is written once and then changed three times (`sending`, the provider's
-- reference, `delivered`); no change is a HOT update (indexes name the status, the owner
-- and the reference), so each one writes a new version of the whole row, ~1.4 KB once its
-- personal values are sealed. PostgreSQL logs only the bytes between the unchanged prefix
-- and the unchanged suffix of a new version that stays on its page (heapam's
-- log_heap_update), so:
-- - every partition made from now on has the columns written once first, in their order,
--   and the columns status writes change last (`notify_status_columns`); a status write's
--   WAL is then the short tail of the row, not the row;
-- - fillfactor 60 (was 80): room on the page for the new version, so most stay on it (a
--   batch updates the rows of a page together, and one transaction cannot reclaim its own
--   dead versions), and pruning keeps the table from growing by a version per write.
-- Measured (bench/wal_phases.py, bench/soak.py; README "The notifications table"): the
-- status writes' WAL and the heap per retained notification before and after.
--
-- The parent keeps its own column order; PostgreSQL maps each row to its partition's order
-- (partitions may order their columns differently), so nothing outside the partitions
-- changes. The layout is read from the catalogue, not written here twice: a column added
-- later to `notifications` lands in every new partition (at the end of the first part).
--
-- Partitions already holding rows keep their layout and are dropped with their day. Empty
-- ones (a new database's, the days made ahead) are made again in the new layout here,
-- under an exclusive lock on `notifications` taken first (the order inserts lock in).

CREATE FUNCTION notify_status_columns() RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['status', 'owner', 'provider', 'provider_reference', 'provider_response',
                 'feedback_type', 'feedback_subtype', 'sent_at', 'updated_at']
$$;

-- Make one partition of `notifications` for [lo, hi) (lo NULL: from the beginning) in the
-- layout above, and attach it (its indexes are made from the parent's on attach).
CREATE FUNCTION notify_new_partition(part text, lo timestamptz, hi timestamptz)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    columns text;
    checks text;
BEGIN
    SELECT string_agg(format('%I %s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END),
                      ', ' ORDER BY a.attname = ANY (notify_status_columns()), a.attnum)
    INTO columns
    FROM pg_attribute a
    WHERE a.attrelid = 'notifications'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    SELECT coalesce(string_agg(format(', CONSTRAINT %I %s', c.conname,
                                      pg_get_constraintdef(c.oid)), '' ORDER BY c.conname), '')
    INTO checks
    FROM pg_constraint c
    WHERE c.conrelid = 'notifications'::regclass AND c.contype = 'c';
    EXECUTE format('CREATE TABLE %I (%s%s) WITH (fillfactor = 60)', part, columns, checks);
    EXECUTE format('ALTER TABLE notifications ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%L)',
                   part, coalesce(quote_literal(lo), 'MINVALUE'), hi);
END
$$;

-- 0020's function, making each day with notify_new_partition.
CREATE OR REPLACE FUNCTION notify_create_partitions(upto timestamptz) RETURNS integer
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
        PERFORM notify_new_partition(
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

DO $$
DECLARE
    p record;
    empty boolean;
BEGIN
    PERFORM pg_advisory_xact_lock(1852797984);
    LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE;
    FOR p IN SELECT name, starts, ends FROM notification_partitions ORDER BY ends LOOP
        EXECUTE format('SELECT NOT EXISTS (SELECT FROM %I)', p.name) INTO empty;
        IF empty THEN
            EXECUTE format('ALTER TABLE notifications DETACH PARTITION %I', p.name);
            EXECUTE format('DROP TABLE %I', p.name);
            PERFORM notify_new_partition(p.name, p.starts, p.ends);
        END IF;
    END LOOP;
END
$$;
