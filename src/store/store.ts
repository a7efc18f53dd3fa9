/**
 * The bot's state in one SQLite file (better-sqlite3, synchronous: every call is one short
 * statement, and the engine's work happens off the main thread in ONNX Runtime anyway). WAL lets a
 * reader (a backup, `sqlite3` by hand) look while the bot writes.
 */
import { randomInt } from 'node:crypto';
import Database from 'better-sqlite3';
import { AuditLog } from './audit.js';
import { JobsRepo } from './jobs.js';
import { LimitsRepo } from './limits-repo.js';
import { MIGRATIONS } from './migrations.js';
import { SafetyRepo } from './safety-repo.js';

export interface StoreOptions {
  /** The clock (Unix ms); tests move it to check cooldowns and daily limits. */
  now?: () => number;
  /** New job ids; tests may make them predictable. */
  newId?: () => string;
}

export interface Store {
  readonly limits: LimitsRepo;
  readonly audit: AuditLog;
  readonly jobs: JobsRepo;
  readonly safety: SafetyRepo;
  /** The schema version this database is at (PRAGMA user_version). */
  readonly version: number;
  close(): void;
}

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** 8 characters from 36: 2.8e12 ids, collisions retried by the insert. */
export function randomJobId(): string {
  let id = '';
  for (let i = 0; i < 8; i++) id += ID_ALPHABET[randomInt(ID_ALPHABET.length)];
  return id;
}

/** Brings the database to the newest schema, each step in its own transaction with its version bump. */
export function migrate(db: Database.Database, steps: readonly string[] = MIGRATIONS): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > steps.length) {
    throw new Error(`the database is at schema version ${current}, newer than this clipag (${steps.length}): upgrade clipag`);
  }
  for (let v = current; v < steps.length; v++) {
    db.transaction(() => {
      db.exec(steps[v]!);
      // PRAGMA takes no bound parameters; v is an integer we computed.
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return steps.length;
}

/** Opens (creating if needed) the store at `file`, or an in-memory one for ':memory:'. */
export function openStore(file: string, opts: StoreOptions = {}): Store {
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    // WAL with NORMAL is durable across process crashes; only a power loss may drop the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const version = migrate(db);
    const now = opts.now ?? Date.now;
    const audit = new AuditLog(db, now);
    return {
      limits: new LimitsRepo(db, audit, now),
      audit,
      jobs: new JobsRepo(db, now, opts.newId ?? randomJobId),
      safety: new SafetyRepo(db, audit, now),
      version,
      close: () => db.close(),
    };
  } catch (e) {
    db.close();
    throw e;
  }
}
