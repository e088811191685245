-- Receipts whose provider reference is not (yet) on any notification: a receipt can beat
-- the commit of the reference it names. They are kept here, written in the same call that
-- found no match and before the receipt is acknowledged (the SNS 200, the SQS delete), so
-- a crash cannot lose one; the receipts actor's sweep applies and deletes them once the
-- reference is committed, and drops them after a bound (72 h). Usually empty.
CREATE TABLE unmatched_receipts (
    id          bigserial PRIMARY KEY,
    reference   text NOT NULL,
    receipt     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unmatched_receipts_reference_idx ON unmatched_receipts (reference);
