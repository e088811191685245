-- Deployment-wide limits (engine.store.budgets, engine.domain.leases): one row per service,
-- budget kind and window. 'rate:<key type>' rows are token buckets (tokens, refilled from
-- updated_at; window 2000-01-01); 'daily:email|sms|trial' (window: the UTC date) and
-- 'annual:email|sms' (window: the fiscal year's April 1) rows count what processes have
-- leased (used). granted: the last lease's grant, for RETURNING. A few rows per service
-- and day, each updated about once a second per busy process.
CREATE TABLE budgets (
    service_id    uuid NOT NULL,
    kind          text NOT NULL,
    window_start  date NOT NULL,
    used          bigint NOT NULL DEFAULT 0,
    tokens        double precision NOT NULL DEFAULT 0,
    granted       bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (service_id, kind, window_start)
) WITH (fillfactor = 50);
