-- When each API key was last used (issue 27: the console's API keys page shows it).
--
-- api_keys.last_used_at: written from memory, never on a request's path: each process
--   remembers its keys' last use (engine.api.key_usage) and writes them at most once a
--   minute per key; a write never moves the time backwards (another process may have
--   written a later one). NULL: never used (or not since this column exists).
ALTER TABLE api_keys ADD COLUMN last_used_at timestamptz;
