// The gateway half: a `ws` server speaking Discord's JSON gateway (no compression; discord.js asks for none
// unless zlib-sync is installed). HELLO → IDENTIFY → READY + one GUILD_CREATE per guild; heartbeats; RESUME.
// Sharding as on Discord: IDENTIFY's `shard: [id, count]` decides which guilds a session sees, and every
// event of a guild goes only to the session of the shard owning it (DMs: shard 0).
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayIntentBits, GatewayOpcodes as Op } from 'discord.js';
import { WebSocket, WebSocketServer } from 'ws';
import type { Json, World } from './world.js';

export interface GatewayHub {
  world: World; botId: string; appId: string; token: string; gatewayUrl: string; heartbeatIntervalMs: number; changed(): void;
}

export interface GatewayStats { connections: number; identifies: number; resumes: number; heartbeats: number; lastIntents: number }

/** [shard id, shard count], as IDENTIFY sends it; [0, 1] without sharding. */
export type ShardPair = [number, number];

interface Session { id: string; ws?: WebSocket; seq: number; intents: number; ready: boolean; shard: ShardPair }
interface Queued { t: string; d: Json; intent: number }

/** Discord's rule: a guild belongs to shard (guild_id >> 22) % shard_count. */
export function shardOfGuild(guildId: string, count: number): number {
  return Number((BigInt(guildId) >> 22n) % BigInt(count));
}

/** The guild an event belongs to; undefined for DMs and interactions outside a guild. */
function guildOf(t: string, d: Json): string | undefined {
  if (typeof d.guild_id === 'string' && d.guild_id) return d.guild_id;
  return t === 'GUILD_CREATE' || t === 'GUILD_UPDATE' || t === 'GUILD_DELETE' ? String(d.id) : undefined;
}

/** Whether a session receives an event: its intent, and its shard owning the event's guild (DMs go to shard 0). */
function wants(s: Session, q: Queued): boolean {
  if (q.intent !== 0 && (s.intents & q.intent) !== q.intent) return false; // INTERACTION_CREATE needs no intent
  const guild = guildOf(q.t, q.d);
  return (guild ? shardOfGuild(guild, s.shard[1]) : 0) === s.shard[0];
}

export class Gateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  /**
   * Events dispatched while no session for them was connected. Real Discord would only replay them on RESUME;
   * the fake also hands them to the next IDENTIFY so a test's action is never lost to a reconnect race.
   */
  private queue: Queued[] = [];
  readonly stats: GatewayStats = { connections: 0, identifies: 0, resumes: 0, heartbeats: 0, lastIntents: 0 };

  constructor(private readonly hub: GatewayHub) {}

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.connect(ws));
  }

  /** Sessions with an open socket that finished IDENTIFY or RESUME. */
  get live(): number {
    return [...this.sessions.values()].filter((s) => s.ws && s.ready).length;
  }

  /** The shard pairs of the sessions with an open socket, in the order they identified. */
  get liveShards(): ShardPair[] {
    return [...this.sessions.values()].filter((s) => s.ws && s.ready).map((s) => [...s.shard]);
  }

  dispatch(t: string, d: Json, intent: number): void {
    const q = { t, d, intent };
    // Queued only while no session of the owning shard is connected (with any intents).
    const live = [...this.sessions.values()].filter((s) => s.ws && s.ready && wants({ ...s, intents: ~0 }, q));
    // A GUILD_CREATE is not kept: the owning shard's next READY brings the guild anyway.
    if (!live.length) { if (t !== 'GUILD_CREATE') this.queue.push(q); return; }
    for (const s of live) if (wants(s, q)) this.send(s, t, d);
  }

  /** Closes every socket as Discord does on an outage: code 4000 lets the client RESUME, 1000 makes it IDENTIFY again. */
  drop(resume: boolean): void {
    for (const s of this.sessions.values()) {
      const ws = s.ws;
      s.ws = undefined;
      s.ready = false;
      if (!resume) this.sessions.delete(s.id);
      ws?.close(resume ? 4000 : 1000, 'dropped by the test');
    }
  }

  close(): void {
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
  }

  private send(s: Session, t: string, d: Json): void {
    s.seq += 1;
    s.ws?.send(JSON.stringify({ op: Op.Dispatch, t, s: s.seq, d }));
  }

  private flush(s: Session): void {
    const rest: Queued[] = [];
    for (const q of this.queue) {
      if (wants(s, q)) this.send(s, q.t, q.d); else rest.push(q);
    }
    this.queue = rest;
  }

  private connect(ws: WebSocket): void {
    this.stats.connections += 1;
    let session: Session | undefined;
    const op = (code: Op, d: unknown): void => ws.send(JSON.stringify({ op: code, d, s: null, t: null }));
    op(Op.Hello, { heartbeat_interval: this.hub.heartbeatIntervalMs });
    ws.on('message', (raw) => {
      let p: { op?: number; d?: Json };
      try { p = JSON.parse(String(raw)) as typeof p; } catch { ws.close(4002, 'Error while decoding payload.'); return; }
      const d = p.d ?? {};
      const tokenOk = d.token === this.hub.token || d.token === `Bot ${this.hub.token}`;
      switch (p.op) {
        case Op.Heartbeat: this.stats.heartbeats += 1; op(Op.HeartbeatAck, null); this.hub.changed(); break;
        case Op.Identify:
          if (session) { ws.close(4005, 'Already authenticated.'); return; }
          if (!tokenOk) { ws.close(4004, 'Authentication failed.'); return; }
          const shard = parseShard(d.shard);
          if (!shard) { ws.close(4010, 'Invalid shard.'); return; }
          session = { id: this.hub.world.snowflake(), ws, seq: 0, intents: Number(d.intents ?? 0), ready: false, shard };
          this.sessions.set(session.id, session);
          this.stats.identifies += 1;
          this.stats.lastIntents = session.intents;
          this.ready(session);
          break;
        case Op.Resume: {
          const s = this.sessions.get(String(d.session_id));
          if (!s || !tokenOk) { op(Op.InvalidSession, false); return; } // client re-identifies
          session = s;
          s.ws = ws;
          this.stats.resumes += 1;
          this.flush(s); // replayed events come before RESUMED
          this.send(s, 'RESUMED', {});
          s.ready = true;
          this.hub.changed();
          break;
        }
        case Op.RequestGuildMembers: {
          const g = this.hub.world.guilds.get(String(d.guild_id));
          if (!session || !g || shardOfGuild(g.id, session.shard[1]) !== session.shard[0]) return;
          const members = [...g.members.keys()].map((id) => this.hub.world.apiMember(g.id, id));
          this.send(session, 'GUILD_MEMBERS_CHUNK', { guild_id: g.id, members, chunk_index: 0, chunk_count: 1, not_found: [], ...(d.nonce ? { nonce: d.nonce } : {}) });
          break;
        }
        case Op.PresenceUpdate: case Op.VoiceStateUpdate: break;
        default: ws.close(4001, 'Unknown opcode.');
      }
    });
    ws.on('close', (code) => {
      if (session?.ws !== ws) return;
      session.ws = undefined;
      session.ready = false;
      // A client that closes with 1000/1001 is gone for good; any other code means it intends to RESUME.
      if (code === 1000 || code === 1001) this.sessions.delete(session.id);
      this.hub.changed();
    });
  }

  /**
   * READY lists the shard's guilds as unavailable; discord.js waits for each one's GUILD_CREATE before
   * emitting clientReady.
   */
  private ready(s: Session): void {
    const { world, botId, appId, gatewayUrl } = this.hub;
    const guilds = [...world.guilds.values()].filter((g) => shardOfGuild(g.id, s.shard[1]) === s.shard[0]);
    this.send(s, 'READY', {
      v: 10, user: { ...world.apiUser(botId), verified: true, mfa_enabled: false, flags: 0 }, session_id: s.id,
      resume_gateway_url: gatewayUrl, shard: s.shard, application: { id: appId, flags: 0 },
      guilds: guilds.map((g) => ({ id: g.id, unavailable: true })),
      private_channels: [], relationships: [], presences: [], guild_join_requests: [], user_settings: {}, _trace: ['fake-discord'],
    });
    if (s.intents & GatewayIntentBits.Guilds) for (const g of guilds) this.send(s, 'GUILD_CREATE', world.apiGuild(g));
    s.ready = true;
    this.flush(s);
    this.hub.changed();
  }
}

/** IDENTIFY's shard field: absent means [0, 1]; Discord closes with 4010 on an id outside the count. */
function parseShard(v: unknown): ShardPair | undefined {
  if (v === undefined || v === null) return [0, 1];
  if (!Array.isArray(v) || v.length !== 2) return undefined;
  const [id, count] = v as unknown[];
  const whole = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n);
  return whole(id) && whole(count) && count >= 1 && id >= 0 && id < count ? [id, count] : undefined;
}
