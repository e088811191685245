-- Every committed change to what the registry caches of a service (engine.services: the
-- service row, its API keys, templates, reply-to addresses, SMS senders, callbacks and team
-- members) sends NOTIFY service_changes with the service id as payload, in the writing
-- transaction: PostgreSQL delivers a notice only if that transaction commits, and after
-- its commit. Each engine process LISTENs (engine.store.changes) and drops its cached
-- bundle. In triggers, not in each write: no write path (the admin API, the callback
-- breaker's suspension, a later one, an operator's psql) can forget it.
-- Several rows of one service in one transaction send one notice (PostgreSQL folds equal
-- payloads); an UPDATE that changes nothing sends none; TRUNCATE sends '*' (all services).
-- None of these tables is written on the hot path: keep it so (a notice per request would
-- make every process reload the service).
CREATE FUNCTION notify_service_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('service_changes', '*');
    ELSIF TG_TABLE_NAME = 'services' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('service_changes', OLD.id::text);
        ELSE
            PERFORM pg_notify('service_changes', NEW.id::text);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('service_changes', OLD.service_id::text);
    ELSE
        PERFORM pg_notify('service_changes', NEW.service_id::text);
        IF TG_OP = 'UPDATE' AND OLD.service_id IS DISTINCT FROM NEW.service_id THEN
            PERFORM pg_notify('service_changes', OLD.service_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['services', 'api_keys', 'templates', 'reply_to_addresses',
                             'sms_senders', 'service_callbacks', 'team_members'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR DELETE ON %I'
                       ' FOR EACH ROW EXECUTE FUNCTION notify_service_change()',
                       t || '_changed', t);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I FOR EACH ROW'
                       ' WHEN (OLD.* IS DISTINCT FROM NEW.*)'
                       ' EXECUTE FUNCTION notify_service_change()',
                       t || '_updated', t);
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION notify_service_change()',
                       t || '_truncated', t);
    END LOOP;
END
$$;
