-- A bulk job is sendable only once all its rows are committed (issue 20, failure 6): it
-- is inserted 'pending', its rows are written, then one statement moves it on. Recovery's
-- claim skips the rows of 'pending' jobs (an anti-join on this index: the pending jobs
-- are the few being written right now, or abandoned by a crash), and the cleanup that
-- deletes abandoned ones finds them by age here.
CREATE INDEX jobs_writing_idx ON jobs (created_at) WHERE job_status = 'pending';
