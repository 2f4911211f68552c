-- The demo schema a new embedded database is loaded with: the tables caching
-- tutorials use, so the sample namespaces in config/wtcache.toml work at once.
-- Each carries the bigint version column wtcached needs (for tables of your
-- own, `wtcached migrate` adds it).

CREATE TABLE IF NOT EXISTS user_sessions (
  user_id       bigint PRIMARY KEY,
  session_data  jsonb NOT NULL,
  last_activity timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  version       bigint NOT NULL DEFAULT 0,
  -- expiry = "value": a session SET with EX is gone from every node once
  -- this passes (NULL: it never expires).
  expires_at    timestamptz
);
-- Sessions made before the expiry column existed.
ALTER TABLE user_sessions ADD COLUMN IF NOT EXISTS expires_at timestamptz;
-- The reaper finds expired sessions by this index.
CREATE INDEX IF NOT EXISTS user_sessions_expires_at_wtcache ON user_sessions (expires_at)
  WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS page_views (
  page_url   text PRIMARY KEY,
  view_count bigint NOT NULL DEFAULT 0,
  version    bigint NOT NULL DEFAULT 0
);

-- The sample write-behind namespace: a shopping cart changes often, and a
-- few milliseconds until PostgreSQL has it are fine.
CREATE TABLE IF NOT EXISTS shopping_carts (
  cart_id    text PRIMARY KEY,
  items      jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  version    bigint NOT NULL DEFAULT 0
);
