/**
 * Each server's safety filter settings, read over DEFAULT_SAFETY and changed only through a
 * validated, audited patch; and the audit entry of each picture the filter caught.
 */
import type Database from 'better-sqlite3';
import type { AuditLog } from './audit.js';
import { DEFAULT_SAFETY, validateSafetyPatch, type GuildSafety, type SafetyMode } from './safety.js';

/** What the audit log keeps of a caught picture: enough for a moderator to find and judge it. */
export interface SafetyFlag {
  guildId: string;
  jobId: string;
  /** Whose picture it was. */
  userId: string;
  /** What was done with it. */
  mode: Exclude<SafetyMode, 'off'>;
  /** The model that drew and screened it. */
  model?: string;
  concept: string;
  /** Cosines and the thresholds they were over (or under). */
  image: { score: number; threshold: number };
  prompt?: { score: number; threshold: number };
}

export class SafetyRepo {
  private readonly select: Database.Statement<[string], { settings: string }>;
  private readonly upsert: Database.Statement<[string, string, number]>;
  private readonly updateTx: (guildId: string, actorId: string, edit: (s: GuildSafety) => Partial<GuildSafety>) => { before: GuildSafety; after: GuildSafety };

  constructor(db: Database.Database, private readonly audit: AuditLog, now: () => number) {
    this.select = db.prepare('SELECT settings FROM guild_safety WHERE guild_id = ?');
    this.upsert = db.prepare(`INSERT INTO guild_safety (guild_id, settings, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`);
    this.updateTx = db.transaction((guildId: string, actorId: string, edit: (s: GuildSafety) => Partial<GuildSafety>) => {
      const before = this.get(guildId);
      const patch = validateSafetyPatch(edit(this.get(guildId)));
      const after: GuildSafety = { ...before, ...patch };
      const change: Record<string, { from: unknown; to: unknown }> = {};
      for (const k of Object.keys(patch) as (keyof GuildSafety)[]) {
        if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) change[k] = { from: before[k], to: after[k] };
      }
      if (Object.keys(change).length === 0) return { before, after: before };
      this.upsert.run(guildId, JSON.stringify(after), now());
      audit.record(guildId, actorId, 'safety.set', change);
      return { before, after };
    });
  }

  /** The server's settings; a server nobody configured has the defaults (block, the model's default concepts). */
  get(guildId: string): GuildSafety {
    const row = this.select.get(guildId);
    const stored = row ? (JSON.parse(row.settings) as Partial<GuildSafety>) : {};
    return {
      mode: stored.mode ?? DEFAULT_SAFETY.mode,
      concepts: (stored.concepts ?? DEFAULT_SAFETY.concepts).map((c) => ({ ...c })),
      removed: [...(stored.removed ?? DEFAULT_SAFETY.removed)],
    };
  }

  /**
   * Reads the settings, applies what `edit` returns (validated: a SafetyError names the problem, and
   * `edit` may throw one too), records the changed fields in the audit log: one transaction.
   */
  update(guildId: string, actorId: string, edit: (current: GuildSafety) => Partial<GuildSafety>): { before: GuildSafety; after: GuildSafety } {
    return this.updateTx(guildId, actorId, edit);
  }

  set(guildId: string, patch: Partial<GuildSafety>, actorId: string): GuildSafety {
    return this.update(guildId, actorId, () => patch).after;
  }

  /** Back to the model's default concepts (the mode stays). */
  resetConcepts(guildId: string, actorId: string): GuildSafety {
    return this.set(guildId, { concepts: [], removed: [] }, actorId);
  }

  /** Audits a caught picture as 'safety.withheld' or 'safety.spoilered', under the member whose picture it was. */
  recordFlag(f: SafetyFlag): void {
    const { guildId, userId, mode, ...details } = f;
    this.audit.record(guildId, userId, mode === 'block' ? 'safety.withheld' : 'safety.spoilered', { verdict: { from: null, to: details } });
  }
}
