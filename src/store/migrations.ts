/**
 * The schema as a list of steps: step i moves a database from user_version i to i + 1. Append new
 * steps; never edit a released one (a database that already ran it would not run it again).
 */
export const MIGRATIONS: readonly string[] = [
  `
  -- Limits are one JSON object per server, read over DEFAULT_LIMITS: a limit added later needs no migration.
  CREATE TABLE guild_limits (
    guild_id   TEXT PRIMARY KEY,
    limits     TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    guild_id TEXT NOT NULL,
    actor_id TEXT NOT NULL,
    action   TEXT NOT NULL,
    change   TEXT NOT NULL,
    at       INTEGER NOT NULL
  );
  CREATE INDEX audit_log_guild ON audit_log (guild_id, at);
  CREATE TABLE jobs (
    id                  TEXT PRIMARY KEY,
    guild_id            TEXT NOT NULL,
    channel_id          TEXT NOT NULL,
    thread_id           TEXT,
    user_id             TEXT NOT NULL,
    request             TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    reply_message_id    TEXT,
    progress_message_id TEXT,
    result_message_id   TEXT,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    error               TEXT,
    score               REAL,
    seed                INTEGER,
    ms                  REAL,
    image_path          TEXT,
    attempts            INTEGER NOT NULL DEFAULT 1,
    cancelled_by        TEXT
  );
  -- The limit checks: a member's jobs in a server, newest last.
  CREATE INDEX jobs_guild_user ON jobs (guild_id, user_id, created_at);
  -- Recovery at start: only unfinished jobs, a small set.
  CREATE INDEX jobs_unfinished ON jobs (created_at) WHERE status IN ('queued', 'running');
  -- Reactions and buttons arrive with a message id.
  CREATE INDEX jobs_reply_message ON jobs (reply_message_id);
  CREATE INDEX jobs_result_message ON jobs (result_message_id);
  `,
  `
  -- The safety filter, one JSON object per server read over DEFAULT_SAFETY (as guild_limits).
  CREATE TABLE guild_safety (
    guild_id   TEXT PRIMARY KEY,
    settings   TEXT NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
];
