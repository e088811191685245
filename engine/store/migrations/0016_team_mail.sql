-- Mail the engine sends to service teams (engine.domain.team_mail). The engine sends it as
-- a service of its own, written with its templates at start from the code
-- (engine.store.team_notices.ensure_system; recovery renders them again). team_notices
-- holds one row per notice sent, so that each is sent at most once per event and period,
-- whatever the number of processes and restarts.
CREATE TABLE team_notices (
    service_id  uuid NOT NULL,
    template    text NOT NULL,
    period      text NOT NULL,
    sent_at     timestamptz NOT NULL DEFAULT now(),
    recipients  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (service_id, template, period)
);
