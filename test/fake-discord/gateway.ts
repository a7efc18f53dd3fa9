// The gateway half: a `ws` server speaking Discord's JSON gateway (no compression; discord.js asks for none
// unless zlib-sync is installed). HELLO → IDENTIFY → READY + one GUILD_CREATE per guild; heartbeats; RESUME.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { GatewayIntentBits, GatewayOpcodes as Op } from 'discord.js';
import { WebSocket, WebSocketServer } from 'ws';
import type { Json, World } from './world.js';

export interface GatewayHub {
  world: World; botId: string; appId: string; token: string; gatewayUrl: string; heartbeatIntervalMs: number; changed(): void;
}

export interface GatewayStats { connections: number; identifies: number; resumes: number; heartbeats: number; lastIntents: number }

interface Session { id: string; ws?: WebSocket; seq: number; intents: number; ready: boolean }
interface Queued { t: string; d: Json; intent: number }

export class Gateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Map<string, Session>();
  /**
   * Events dispatched while no session was connected. Real Discord would only replay them on RESUME; the
   * fake also hands them to the next IDENTIFY so a test's action is never lost to a reconnect race.
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

  dispatch(t: string, d: Json, intent: number): void {
    const live = [...this.sessions.values()].filter((s) => s.ws && s.ready);
    if (!live.length) { this.queue.push({ t, d, intent }); return; }
    // Discord only sends an event to sessions that asked for its intent (INTERACTION_CREATE needs none).
    for (const s of live) if (intent === 0 || (s.intents & intent) === intent) this.send(s, t, d);
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
      if (q.intent === 0 || (s.intents & q.intent) === q.intent) this.send(s, q.t, q.d); else rest.push(q);
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
          session = { id: this.hub.world.snowflake(), ws, seq: 0, intents: Number(d.intents ?? 0), ready: false };
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
          if (!session || !g) return;
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

  /** READY lists guilds as unavailable; discord.js waits for each one's GUILD_CREATE before emitting clientReady. */
  private ready(s: Session): void {
    const { world, botId, appId, gatewayUrl } = this.hub;
    this.send(s, 'READY', {
      v: 10, user: { ...world.apiUser(botId), verified: true, mfa_enabled: false, flags: 0 }, session_id: s.id,
      resume_gateway_url: gatewayUrl, shard: [0, 1], application: { id: appId, flags: 0 },
      guilds: [...world.guilds.keys()].map((id) => ({ id, unavailable: true })),
      private_channels: [], relationships: [], presences: [], guild_join_requests: [], user_settings: {}, _trace: ['fake-discord'],
    });
    if (s.intents & GatewayIntentBits.Guilds) for (const g of world.guilds.values()) this.send(s, 'GUILD_CREATE', world.apiGuild(g));
    s.ready = true;
    this.flush(s);
    this.hub.changed();
  }
}
