/** Each server's limits: read over the defaults, changed only through a validated, audited patch. */
import type Database from 'better-sqlite3';
import type { AuditLog } from './audit.js';
import { DEFAULT_LIMITS, validateLimitsPatch, type GuildLimits } from './limits.js';

export class LimitsRepo {
  private readonly select: Database.Statement<[string], { limits: string }>;
  private readonly upsert: Database.Statement<[string, string, number]>;
  private readonly setTx: (guildId: string, patch: Partial<GuildLimits>, actorId: string) => GuildLimits;

  constructor(db: Database.Database, audit: AuditLog, now: () => number) {
    this.select = db.prepare('SELECT limits FROM guild_limits WHERE guild_id = ?');
    this.upsert = db.prepare(`INSERT INTO guild_limits (guild_id, limits, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (guild_id) DO UPDATE SET limits = excluded.limits, updated_at = excluded.updated_at`);
    this.setTx = db.transaction((guildId: string, patch: Partial<GuildLimits>, actorId: string): GuildLimits => {
      const old = this.get(guildId);
      const next: GuildLimits = { ...old, ...patch };
      const change: Record<string, { from: unknown; to: unknown }> = {};
      for (const k of Object.keys(patch) as (keyof GuildLimits)[]) {
        if (JSON.stringify(old[k]) !== JSON.stringify(next[k])) change[k] = { from: old[k], to: next[k] };
      }
      if (Object.keys(change).length === 0) return old;
      this.upsert.run(guildId, JSON.stringify(next), now());
      audit.record(guildId, actorId, 'limits.set', change);
      return next;
    });
  }

  /** The server's limits; a server nobody configured has the defaults. */
  get(guildId: string): GuildLimits {
    const row = this.select.get(guildId);
    const stored = row ? (JSON.parse(row.limits) as Partial<GuildLimits>) : {};
    const out = {
      ...DEFAULT_LIMITS, blockedWords: [...DEFAULT_LIMITS.blockedWords], allowedChannels: [...DEFAULT_LIMITS.allowedChannels], allowedModels: [...DEFAULT_LIMITS.allowedModels],
    };
    // Only known keys, so a limit removed from the code does not linger in what callers see.
    for (const k of Object.keys(out) as (keyof GuildLimits)[]) {
      if (stored[k] !== undefined) (out as Record<string, unknown>)[k] = stored[k];
    }
    return out;
  }

  /**
   * Validates `patch` (throws LimitsError listing every problem), applies it and records who changed
   * what in the audit log, all in one transaction. Returns the limits now in force.
   */
  set(guildId: string, patch: Partial<GuildLimits>, actorId: string): GuildLimits {
    return this.setTx(guildId, validateLimitsPatch(patch), actorId);
  }
}
