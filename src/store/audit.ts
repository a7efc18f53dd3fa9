/** Who changed what, when: written in the same transaction as the change it records. */
import type Database from 'better-sqlite3';
import type { AuditEntry } from './types.js';

interface AuditRow { id: number; guild_id: string; actor_id: string; action: string; change: string; at: number }

export class AuditLog {
  private readonly insert: Database.Statement<[string, string, string, string, number]>;
  private readonly recent: Database.Statement<[string, number], AuditRow>;

  constructor(db: Database.Database, private readonly now: () => number) {
    this.insert = db.prepare('INSERT INTO audit_log (guild_id, actor_id, action, change, at) VALUES (?, ?, ?, ?, ?)');
    this.recent = db.prepare('SELECT * FROM audit_log WHERE guild_id = ? ORDER BY id DESC LIMIT ?');
  }

  /** Call inside the transaction that makes the change. */
  record(guildId: string, actorId: string, action: string, change: AuditEntry['change']): void {
    this.insert.run(guildId, actorId, action, JSON.stringify(change), this.now());
  }

  /** A server's newest entries first. */
  list(guildId: string, limit = 20): AuditEntry[] {
    return this.recent.all(guildId, limit).map((r) => ({
      id: r.id, guildId: r.guild_id, actorId: r.actor_id, action: r.action, change: JSON.parse(r.change) as AuditEntry['change'], at: r.at,
    }));
  }
}
