-- The language of `status_description` in a service's delivery-status callbacks (issue
-- 22): 'en' (GC's wording, the default) or 'fr'. Set through the admin API's PATCH.
ALTER TABLE services
    ADD COLUMN callback_language text NOT NULL DEFAULT 'en'
        CHECK (callback_language IN ('en', 'fr'));
