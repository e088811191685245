-- One token bucket per paced provider, shared by every engine process on this database:
-- NOTIFY_PROVIDER_SEND_RATES is the deployment's rate (an SES account's maximum send rate
-- is account-wide). Processes lease slices of it (engine.store.send_rates); refilled from
-- now() in the UPDATE itself, so the processes' clocks do not matter. One row per provider.
CREATE TABLE send_rates (
    provider   text PRIMARY KEY,
    tokens     double precision NOT NULL,
    granted    integer NOT NULL DEFAULT 0,  -- the last lease's size (what RETURNING reads)
    updated_at timestamptz NOT NULL DEFAULT now()
);
