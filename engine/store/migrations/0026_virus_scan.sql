-- Virus scanning of files sent in personalisation (issue 25). A notification with files is
-- inserted `pending-virus-check`; the scanner (engine.actors.scanner) moves it to `created`
-- once every file of it is clean, or to `virus-scan-failed` (a callback is owed: migration
-- 0015's trigger lists that status) and deletes its files.
-- `scan` of a document: 'pending' until its notification is found clean, then 'clean';
-- 'unscanned' when the deployment opted out of scanning (NOTIFY_FILES_WITHOUT_SCAN).
-- Rows written before this migration were sent already: they count as clean.
ALTER TABLE documents
    ADD COLUMN scan text NOT NULL DEFAULT 'clean'
        CHECK (scan IN ('pending', 'clean', 'unscanned'));

-- The scanner's claims: rows waiting for a scan, oldest first (a small partial index: a
-- row leaves it as soon as it is scanned).
CREATE INDEX notifications_scan_idx ON notifications (created_at)
    WHERE status = 'pending-virus-check';
