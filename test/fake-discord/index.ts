// A loopback Discord for tests: REST under <apiUrl>/v10 and a gateway, so a real discord.js Client runs
// against it with `new Client({ rest: { api: fake.apiUrl } })`. See API.md for the driver API.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { ChannelType, GatewayIntentBits as I, PermissionFlagsBits as P } from 'discord.js';
import { Gateway, shardOfGuild, type GatewayStats, type ShardPair } from './gateway.js';
import { autocompleteInteraction, componentInteraction, slashInteraction, type InteractionHub, type OptionValue } from './interactions.js';
import { createMessage, deleteMessage, setReaction } from './messages.js';
import { handleRest, type FailureRule, type FailureSpec, type RecordedRequest, type RestHub } from './rest.js';
import {
  BOT_PERMISSIONS, EVERYONE_PERMISSIONS, pngSize, type AttachmentView, type FakeGuild, type FakeInteraction, type InitialResponse, type Json,
  type MessageView, type ThreadView, type UserView, World,
} from './world.js';

export type { AttachmentView, InitialResponse, Json, MessageVersion, MessageView, ThreadView, UserView } from './world.js';
export type { FailureRule, FailureSpec, RecordedRequest } from './rest.js';
export type { GatewayStats, ShardPair } from './gateway.js';
export { shardOfGuild } from './gateway.js';
export type { OptionValue } from './interactions.js';

export interface FakeDiscordOptions {
  /** HELLO's heartbeat interval (Discord: ~41 s). Default 1000 ms so tests see heartbeats. */
  heartbeatIntervalMs?: number;
  /** Answer window for interactions (Discord: 3 s); later callbacks get 404 Unknown interaction. */
  ackDeadlineMs?: number;
  /** Lifetime of interaction tokens for followups and @original (Discord: 15 min). */
  interactionTokenTtlMs?: number;
  /** GET /gateway/bot's recommended shard count (default 1), what SHARDS=auto starts. */
  shards?: number;
  /** GET /gateway/bot's max_concurrency: shards that may IDENTIFY at once (default 1; Discord: 1, or 16+ for large bots). */
  maxConcurrency?: number;
}

/** A guild of the fake world: its id, text channels and roles (the same four users are members of each). */
export interface GuildHandle {
  id: string; name: string;
  channels: { general: string; art: string };
  roles: { everyone: string; moderator: string; bot: string };
}

/** What Discord derives from an uploaded file's extension. */
const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', txt: 'text/plain; charset=utf-8' };

/** An id, or anything with one: a fake view or a discord.js User/Message. */
export type Ref = string | { id: string };
type UserRef = Ref;
type MessageRef = Ref;
const idOf = (r: Ref): string => (typeof r === 'string' ? r : r.id);

/** The first answer to an interaction, with the message it produced (when it produced one). */
export interface Reply extends InitialResponse { message?: MessageView }

/** What a test holds after slash() or click(): the interaction, its answer and its followups. */
export class InteractionHandle {
  constructor(private readonly fake: FakeDiscord, private readonly ix: FakeInteraction, private readonly what: string) {}
  get id(): string { return this.ix.id; }
  /** The INTERACTION_CREATE payload sent to the bot. */
  get payload(): Json { return this.ix.payload; }
  /** Resolves with the bot's callback (type 4/5/6/7…); rejects when it came too late, or after timeoutMs. */
  reply(timeoutMs = 5000): Promise<Reply> {
    return this.fake.waitFor(() => {
      if (this.ix.lateAckMs !== undefined) throw new Error(`${this.what} was answered after ${this.ix.lateAckMs} ms, past the ${this.fake.ackDeadlineMs} ms deadline`);
      return this.ix.response && { ...this.ix.response, message: this.original() };
    }, timeoutMs, `a response to ${this.what}`);
  }
  /** @original as it is now: the reply message, or for a component the message the component is on. */
  original(): MessageView | undefined { return this.fake.message(this.ix.originalMessageId ?? ''); }
  /** Followup messages (ephemeral ones included), oldest first. */
  followups(): MessageView[] { return this.ix.followupIds.flatMap((id) => this.fake.message(id) ?? []); }
}

export class FakeDiscord {
  readonly token = `fake.${randomBytes(18).toString('base64url')}`;
  readonly requests: RecordedRequest[] = [];
  /** Mutable: tests may shorten the 3 s window to provoke Unknown interaction. */
  ackDeadlineMs: number;
  readonly world: World;
  readonly botUser: UserView;
  readonly appId: string;
  readonly guild: { id: string; name: string };
  readonly channels: { general: string; art: string };
  readonly roles: { everyone: string; moderator: string; bot: string };
  /** Every guild: `guild` first, then those added with addGuild(). */
  readonly guilds: GuildHandle[] = [];
  readonly users: { owner: UserView; moderator: UserView; member: UserView; other: UserView };
  private readonly rules: FailureRule[] = [];
  private readonly internalErrors: Error[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly gateway: Gateway;
  private readonly hub: RestHub;

  constructor(private readonly server: Server, readonly apiUrl: string, readonly gatewayUrl: string, opts: FakeDiscordOptions) {
    this.ackDeadlineMs = opts.ackDeadlineMs ?? 3000;
    this.world = new World(apiUrl.replace(/\/api$/, ''));
    const w = this.world;
    const user = (username: string, bot = false): UserView => { const u = { id: w.snowflake(), username, bot }; w.users.set(u.id, u); return u; };
    this.botUser = user('clipag', true);
    this.appId = this.botUser.id; // for bots made since 2019 the application id equals the bot user's id
    this.users = { owner: user('owner'), moderator: user('mod'), member: user('member'), other: user('other') };
    const first = this.buildGuild('Fake Guild', w.snowflake());
    this.guild = { id: first.id, name: first.name };
    this.channels = first.channels;
    this.roles = first.roles;
    const changed = (): void => { for (const l of [...this.listeners]) l(); };
    const base = { world: w, botId: this.botUser.id, appId: this.appId, token: this.token, gatewayUrl, changed };
    this.gateway = new Gateway({ ...base, heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 1000 });
    const fake = this;
    this.hub = {
      ...base, apiUrl, requests: this.requests, rules: this.rules, internalErrors: this.internalErrors,
      shards: opts.shards ?? 1, maxConcurrency: opts.maxConcurrency ?? 1,
      get ackDeadlineMs() { return fake.ackDeadlineMs; }, tokenTtlMs: opts.interactionTokenTtlMs ?? 15 * 60_000,
      dispatch: (t, d, intent) => this.gateway.dispatch(t, d, intent),
    } satisfies RestHub & InteractionHub;
  }

  /** Called by startFakeDiscord: routes the one HTTP server to REST, attachment downloads and the gateway. */
  listen(): void {
    this.server.on('request', (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const api = /^\/api\/v\d+(\/.*)$/.exec(url.pathname);
      if (api?.[1]) { void handleRest(this.hub, req, res, decodeURIComponent(api[1]), url.searchParams); return; }
      const att = /^\/attachments\/\d+\/(\d+)\//.exec(url.pathname);
      const file = att?.[1] ? this.world.attachments.get(att[1]) : undefined;
      if (file) res.writeHead(200, { 'content-type': file.contentType }).end(file.data);
      else res.writeHead(404).end();
    });
    this.server.on('upgrade', (req, socket, head) => {
      if (req.url?.startsWith('/gateway')) this.gateway.upgrade(req, socket, head); else socket.destroy();
    });
  }

  /** A guild with @everyone, Moderators and the bot's role, #general and #art, the bot and the four users. */
  private buildGuild(name: string, id: string): GuildHandle {
    const w = this.world;
    const g: FakeGuild = { id, name, ownerId: this.users.owner.id, roles: new Map(), members: new Map() };
    w.guilds.set(g.id, g);
    const role = (roleId: string, roleName: string, permissions: bigint, position: number, managed = false): string => {
      g.roles.set(roleId, { id: roleId, name: roleName, permissions, position, managed });
      return roleId;
    };
    // The @everyone role's id is the guild's id; members' role lists never include it.
    const roles = {
      everyone: role(g.id, '@everyone', EVERYONE_PERMISSIONS, 0),
      moderator: role(w.snowflake(), 'Moderators', EVERYONE_PERMISSIONS | P.ManageGuild | P.ManageMessages, 1),
      bot: role(w.snowflake(), 'clipag', BOT_PERMISSIONS, 2, true),
    };
    const text = (channelName: string): string => { const cid = w.snowflake(); w.channels.set(cid, { id: cid, type: ChannelType.GuildText, name: channelName, guildId: g.id, createdAt: Date.now() }); return cid; };
    const channels = { general: text('general'), art: text('art') };
    const join = (u: UserView, roleIds: string[] = []): void => { g.members.set(u.id, { userId: u.id, roleIds, joinedAt: Date.now() }); };
    join(this.botUser, [roles.bot]);
    join(this.users.owner);
    join(this.users.moderator, [roles.moderator]);
    join(this.users.member);
    join(this.users.other);
    const handle = { id: g.id, name, channels, roles };
    this.guilds.push(handle);
    return handle;
  }

  // ---- people and places ----

  /**
   * Another guild the bot is in, laid out like the first one (owner, members, Moderators, #general, #art).
   * `shard: [id, count]` picks an id Discord's rule assigns to that shard. A connected bot gets its GUILD_CREATE.
   */
  addGuild(name: string, o: { shard?: ShardPair } = {}): GuildHandle {
    const id = o.shard ? this.world.snowflakeOnShard(o.shard[0], o.shard[1]) : this.world.snowflake();
    const handle = this.buildGuild(name, id);
    this.gateway.dispatch('GUILD_CREATE', this.world.apiGuild(this.world.guilds.get(id)!), I.Guilds);
    return handle;
  }

  /** The guild ids a shard of `count` owns, by Discord's rule. */
  guildsOfShard(shard: number, count: number): string[] {
    return this.guilds.map((g) => g.id).filter((id) => shardOfGuild(id, count) === shard);
  }

  /** A new guild member (e.g. many users for a load test), optionally with roles. */
  addMember(username: string, roleIds: string[] = []): UserView {
    const u = { id: this.world.snowflake(), username, bot: false };
    this.world.users.set(u.id, u);
    this.world.guilds.get(this.guild.id)?.members.set(u.id, { userId: u.id, roleIds, joinedAt: Date.now() });
    this.gateway.dispatch('GUILD_MEMBER_ADD', { ...this.world.apiMember(this.guild.id, u.id), guild_id: this.guild.id }, I.GuildMembers);
    return u;
  }

  /** The DM channel between a user and the bot (created on first use). */
  dmChannel(user: UserRef): string {
    const uid = idOf(user);
    const found = [...this.world.channels.values()].find((c) => c.type === ChannelType.DM && c.recipientId === uid);
    if (found) return found.id;
    const id = this.world.snowflake();
    this.world.channels.set(id, { id, type: ChannelType.DM, name: '', recipientId: uid, createdAt: Date.now() });
    return id;
  }

  /** Changes a role's permissions (GUILD_ROLE_UPDATE is dispatched so the bot's cache follows). */
  setRolePermissions(roleId: string, permissions: bigint): void {
    const role = this.world.guilds.get(this.guild.id)?.roles.get(roleId);
    if (!role) throw new Error(`no role ${roleId}`);
    role.permissions = permissions;
    this.gateway.dispatch('GUILD_ROLE_UPDATE', { guild_id: this.guild.id, role: this.world.apiRole(role) }, I.Guilds);
  }

  // ---- what users do ----

  /** A user runs `/name` (or `/name sub`) with options in a channel (use dmChannel(user) for a DM). */
  slash(user: UserRef, channelId: string, name: string, options: Record<string, OptionValue> = {}): InteractionHandle {
    const ix = slashInteraction(this.hub, idOf(user), channelId, name, options);
    return new InteractionHandle(this, ix, `/${name} ${JSON.stringify(options)}`);
  }

  /** A user types into an autocomplete option (`focused`, its partial text among `options`); reply().data.choices holds the bot's suggestions. */
  autocomplete(user: UserRef, channelId: string, name: string, options: Record<string, OptionValue>, focused: string): InteractionHandle {
    const ix = autocompleteInteraction(this.hub, idOf(user), channelId, name, options, focused);
    return new InteractionHandle(this, ix, `autocomplete of /${name} ${focused}`);
  }

  /**
   * A file a user attaches to a slash command: pass the returned id as an Attachment option's value.
   * Its url (on this server) serves the bytes; `size` overrides the declared size (Discord's own is exact),
   * `url` where it is served from (a test's own server, e.g. a slow one).
   */
  attachment(filename: string, data: Buffer, opts: { contentType?: string; size?: number; url?: string } = {}): string {
    const id = this.world.snowflake();
    const ext = /\.([a-z0-9]+)$/i.exec(filename)?.[1]?.toLowerCase() ?? '';
    const a: AttachmentView = {
      id, filename, data, size: opts.size ?? data.length,
      contentType: opts.contentType ?? CONTENT_TYPES[ext] ?? 'application/octet-stream',
      url: opts.url ?? `${this.world.baseUrl}/attachments/${this.appId}/${id}/${encodeURIComponent(filename)}`,
      ...pngSize(data),
    };
    this.world.attachments.set(id, a);
    return id;
  }

  /** A user clicks the button (or other component) with customId on a message. */
  click(user: UserRef, message: MessageRef, customId: string): InteractionHandle {
    const m = this.world.message(this.messageChannel(message), idOf(message));
    return new InteractionHandle(this, componentInteraction(this.hub, idOf(user), m, customId), `a click on "${customId}"`);
  }

  react(user: UserRef, message: MessageRef, emoji: string): void {
    setReaction(this.hub, this.world.message(this.messageChannel(message), idOf(message)), idOf(user), emoji, true);
  }

  unreact(user: UserRef, message: MessageRef, emoji: string): void {
    setReaction(this.hub, this.world.message(this.messageChannel(message), idOf(message)), idOf(user), emoji, false);
  }

  /** A user posts a plain message (MESSAGE_CREATE reaches bots with the GuildMessages intent). */
  post(user: UserRef, channelId: string, content: string): MessageView {
    return this.world.view(createMessage(this.hub, this.world.channel(channelId), idOf(user), { content }, []));
  }

  /** Someone (a moderator, the author) deletes a message; MESSAGE_DELETE needs the GuildMessages intent. */
  deleteMessage(message: MessageRef): void {
    deleteMessage(this.hub, this.world.message(this.messageChannel(message), idOf(message)));
  }

  // ---- what tests read ----

  /** Messages in a channel or thread, oldest first, without deleted or ephemeral ones. */
  messages(channelId: string): MessageView[] {
    return this.world.inChannel(channelId).map((m) => this.world.view(m));
  }

  /** Any message by id, deleted and ephemeral ones included. */
  message(id: string): MessageView | undefined {
    const m = this.world.messages.get(id);
    return m && this.world.view(m);
  }

  threads(parentId?: string): ThreadView[] {
    return [...this.world.channels.values()]
      .filter((c) => c.type === ChannelType.PublicThread && (!parentId || c.parentId === parentId))
      .map((c) => ({ id: c.id, name: c.name, parentId: c.parentId ?? '', ownerId: c.ownerId ?? '', starterMessageId: c.starterMessageId }));
  }

  /** Registered commands: global ones, or a guild's. */
  commands(guildId?: string): Json[] { return [...(this.world.commands.get(guildId ?? 'global')?.values() ?? [])]; }

  get gatewayStats(): GatewayStats { return { ...this.gateway.stats }; }

  /** `[id, count]` of each connected gateway session, in the order they identified. */
  get gatewayShards(): ShardPair[] { return this.gateway.liveShards; }

  /** Errors inside the fake itself (answered with 500); should stay empty. */
  get bugs(): Error[] { return [...this.internalErrors]; }

  /**
   * Resolves with the predicate's first truthy value, re-checked after every change in the fake and every 20 ms
   * (for state outside the fake, such as the bot's); rejects after timeoutMs with what it waited for and the
   * last requests, which are usually the clue.
   */
  waitFor<T>(predicate: () => T | undefined | null | false, timeoutMs = 5000, what = predicate.toString()): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        let value: T | undefined | null | false;
        try { value = predicate(); } catch (err) { done(); reject(err); return; }
        if (value) { done(); resolve(value); }
      };
      const timer = setTimeout(() => {
        done();
        const recent = this.requests.slice(-8).map((r) => `  ${r.method} ${r.path} → ${r.status}`).join('\n');
        reject(new Error(`fake-discord: timed out after ${timeoutMs} ms waiting for ${what}\nlast requests:\n${recent || '  (none)'}`));
      }, timeoutMs);
      const poll = setInterval(check, 20);
      const done = (): void => { clearTimeout(timer); clearInterval(poll); this.listeners.delete(check); };
      this.listeners.add(check);
      check();
    });
  }

  // ---- trouble on demand ----

  /** The next `count` requests matching make the fake answer 429 (with retry headers) or 5xx. */
  failNext(spec: FailureSpec): FailureRule {
    const rule: FailureRule = { ...spec, hits: 0, remaining: spec.count ?? 1 };
    this.rules.push(rule);
    return rule;
  }

  /** Ages every interaction token past its 15 minutes: followups and @original edits then get 401 (50027). */
  expireInteractionTokens(): void {
    for (const ix of this.world.interactions.values()) ix.tokenExpiresAt = 0;
  }

  /** Closes the gateway sockets; resolves once a client is back (RESUME by default, or a fresh IDENTIFY). */
  async dropGateway({ resume = true, timeoutMs = 10_000 } = {}): Promise<void> {
    const before = this.gateway.stats.identifies + this.gateway.stats.resumes;
    this.gateway.drop(resume);
    await this.waitFor(() => this.gateway.live > 0 && this.gateway.stats.identifies + this.gateway.stats.resumes > before, timeoutMs, 'a client to reconnect to the gateway');
  }

  async close(): Promise<void> {
    this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private messageChannel(message: MessageRef): string {
    const m = this.world.messages.get(idOf(message));
    if (!m) throw new Error(`no message ${idOf(message)}`);
    return m.channelId;
  }
}

/** Starts a fake Discord on 127.0.0.1 with a free port. */
export async function startFakeDiscord(opts: FakeDiscordOptions = {}): Promise<FakeDiscord> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake = new FakeDiscord(server, `http://127.0.0.1:${port}/api`, `ws://127.0.0.1:${port}/gateway`, opts);
  fake.listen();
  return fake;
}
