-- Templates and reports through the API (issue 24), as GC Notify has them.
--
-- api_keys.permissions: what a key may do beyond sending and reading (GC's migration 0512:
-- 'manage_templates' for /v2/manage-template, 'manage_reports' for /v2/reports). Empty for
-- every existing key. A constant default: PostgreSQL adds the column without rewriting.
ALTER TABLE api_keys
    ADD COLUMN permissions text[] NOT NULL DEFAULT '{}'
        CHECK (permissions <@ ARRAY['manage_templates', 'manage_reports']::text[]);

-- A template's category (engine.domain.template_categories: GC's fixed list, so no table
-- and no foreign key); NULL for templates written before, or by the admin API without one.
ALTER TABLE templates ADD COLUMN template_category_id uuid;
ALTER TABLE template_versions ADD COLUMN template_category_id uuid;
