-- Email branding and language-aware sending (issue 22).
--
-- services: how a service's emails are branded ('none', the default, keeps every email as
-- it was; 'fip' the Government of Canada signature, English first unless
-- default_branding_is_french; 'organisation' its own logo and colour), its brand's name
-- (the logo's alt text) and colour, the digest of its uploaded logo (the logo itself is in
-- service_logos; the digest names it in URLs, so a new logo is a new URL), and the
-- language of a send that names none ('en' unless set).
ALTER TABLE services
    ADD COLUMN email_branding text NOT NULL DEFAULT 'none'
        CHECK (email_branding IN ('none', 'fip', 'organisation')),
    ADD COLUMN default_branding_is_french boolean NOT NULL DEFAULT false,
    ADD COLUMN brand_name text,
    ADD COLUMN brand_colour text CHECK (brand_colour ~ '^#[0-9a-f]{6}$'),
    ADD COLUMN brand_logo text,
    ADD COLUMN default_language text NOT NULL DEFAULT 'en'
        CHECK (default_language IN ('en', 'fr'));

-- One logo per service, uploaded through the admin API (size and type checked there).
-- Written with services.brand_logo in one transaction, so the services trigger of 0010
-- tells every process.
CREATE TABLE service_logos (
    service_id   uuid PRIMARY KEY REFERENCES services(id),
    digest       text NOT NULL,
    content_type text NOT NULL CHECK (content_type IN ('image/png', 'image/jpeg', 'image/gif')),
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A template's French version (subject and content), NULL when it has one version only.
ALTER TABLE templates ADD COLUMN subject_fr text, ADD COLUMN content_fr text;
ALTER TABLE template_versions ADD COLUMN subject_fr text, ADD COLUMN content_fr text;

-- The version a notification was sent in: 'en' or 'fr' for a template with a French
-- version, NULL for a template with one version (as every notification before).
ALTER TABLE notifications ADD COLUMN language text;
