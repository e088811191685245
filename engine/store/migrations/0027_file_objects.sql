-- Files in object storage (issue 25): with NOTIFY_FILES_BUCKET set, a document's sealed
-- content is an object (`object_key`) and `content` is NULL; otherwise the content stays
-- in the row, as before.
ALTER TABLE documents
    ALTER COLUMN content DROP NOT NULL,
    ADD COLUMN object_key text,
    ADD CONSTRAINT documents_content_somewhere
        CHECK (content IS NOT NULL OR object_key IS NOT NULL);

-- Objects whose documents are gone (retention purge, expiry, infected files): deleted from
-- the bucket by housekeeping (engine.store.documents.objects_gone), then from here. The
-- row is written in the same statement that deletes the document, so a crash between the
-- two deletes leaves the object listed here, never forgotten in the bucket.
CREATE TABLE document_objects_gone (
    object_key  text PRIMARY KEY,
    gone_at     timestamptz NOT NULL DEFAULT now()
);
