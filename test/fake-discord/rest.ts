// The REST half: routes the bot uses under /api/v10, request log, and failure injection (429 / 5xx).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PermissionFlagsBits as P } from 'discord.js';
import { followup, interactionCallback, webhookMessage, type InteractionHub } from './interactions.js';
import { createMessage, deleteMessage, editMessage, setReaction, startThread, type UploadedFile } from './messages.js';
import { ApiError, type Json } from './world.js';

export interface RecordedRequest {
  at: number; method: string;
  /** Decoded path without the /api/v10 prefix and query, e.g. /channels/123/messages/456/reactions/🔁/@me. */
  path: string;
  /** The matched route pattern, e.g. /channels/:channel/messages/:message ('?' when none matched). */
  route: string;
  query: Record<string, string>;
  /** JSON body, or payload_json of a multipart body. */
  body: unknown;
  files: UploadedFile[];
  /** Status the fake answered with (0 while in flight). */
  status: number;
}

export interface FailureSpec {
  /** Matched against RecordedRequest.path. */
  route: RegExp; method?: string; status: 429 | 500 | 502 | 503;
  /** Seconds, for 429 (default 0.1). Real Discord sends whole seconds in the header; fractions keep tests fast. */
  retryAfter?: number;
  /** How many matching requests fail (default 1). */
  count?: number;
  /** A global 429 (x-ratelimit-global) instead of a per-route one. */
  global?: boolean;
}

export interface FailureRule extends FailureSpec { hits: number; remaining: number }

export interface RestHub extends InteractionHub {
  token: string; apiUrl: string; gatewayUrl: string; requests: RecordedRequest[]; rules: FailureRule[];
  /** GET /gateway/bot's advice: how many shards, and how many may IDENTIFY at once. */
  shards: number; maxConcurrency: number;
  /** Bugs in the fake itself (answered 500); its own tests assert this stays empty. */
  internalErrors: Error[];
}

interface Call { hub: RestHub; p: Record<string, string>; body: unknown; files: UploadedFile[]; query: URLSearchParams; method: string }
interface Reply { status?: number; body?: unknown }
type Handler = (c: Call) => Reply;

const obj = (c: Call): Json => (c.body && typeof c.body === 'object' && !Array.isArray(c.body) ? (c.body as Json) : {});
const ok = (body: unknown): Reply => ({ status: 200, body });
const NO_CONTENT: Reply = { status: 204 };

function channelMessages(c: Call): Reply {
  const { world } = c.hub;
  world.channel(c.p.channel ?? '');
  const limit = Math.min(100, Math.max(1, Number(c.query.get('limit') ?? 50)));
  const before = c.query.get('before');
  const after = c.query.get('after');
  const list = world.inChannel(c.p.channel ?? '')
    .filter((m) => (!before || BigInt(m.id) < BigInt(before)) && (!after || BigInt(m.id) > BigInt(after)))
    .reverse() // newest first, as Discord returns them
    .slice(0, limit);
  return ok(list.map((m) => world.apiMessage(m, c.hub.botId)));
}

function postMessage(c: Call): Reply {
  const { world, botId } = c.hub;
  const channel = world.channel(c.p.channel ?? '');
  const inThread = channel.parentId !== undefined;
  world.requireBot(channel, (inThread ? P.SendMessagesInThreads : P.SendMessages) | (c.files.length ? P.AttachFiles : 0n), botId);
  return ok(world.apiMessage(createMessage(c.hub, channel, botId, obj(c), c.files), botId));
}

function messageRoute(c: Call): Reply {
  const { world, botId } = c.hub;
  const m = world.message(c.p.channel ?? '', c.p.message ?? '');
  if (c.method === 'GET') return ok(world.apiMessage(m, botId));
  if (c.method === 'PATCH') {
    if (m.authorId !== botId) throw new ApiError(403, 50005, 'Cannot edit a message authored by another user');
    return ok(world.apiMessage(editMessage(c.hub, m, obj(c), c.files), botId));
  }
  if (m.authorId !== botId) world.requireBot(world.channel(m.channelId), P.ManageMessages, botId);
  deleteMessage(c.hub, m);
  return NO_CONTENT;
}

function reactionRoute(c: Call): Reply {
  const { world, botId } = c.hub;
  const m = world.message(c.p.channel ?? '', c.p.message ?? '');
  const emoji = c.p.emoji ?? '';
  const channel = world.channel(m.channelId);
  if (c.method === 'PUT') {
    world.requireBot(channel, P.AddReactions | P.ReadMessageHistory, botId);
    setReaction(c.hub, m, botId, emoji, true);
    return NO_CONTENT;
  }
  if (c.method === 'GET') return ok([...(m.reactions.get(emoji) ?? [])].map((id) => world.apiUser(id)));
  const who = c.p.user === '@me' ? botId : c.p.user;
  if (who !== botId) world.requireBot(channel, P.ManageMessages, botId); // removing others' reactions
  const targets = who ? [emoji] : c.p.emoji ? [emoji] : [...m.reactions.keys()];
  for (const e of targets) for (const u of who ? [who] : [...(m.reactions.get(e) ?? [])]) setReaction(c.hub, m, u, e, false);
  return NO_CONTENT;
}

function threadRoute(c: Call): Reply {
  const { world, botId } = c.hub;
  const parent = world.channel(c.p.channel ?? '');
  world.requireBot(parent, P.CreatePublicThreads, botId);
  const m = c.p.message ? world.message(parent.id, c.p.message) : undefined;
  return { status: 201, body: world.apiChannel(startThread(c.hub, parent, m, obj(c), botId)) };
}

const NAME = /^[-_\p{Ll}\p{N}]{1,32}$/u;

/** Discord's checks on command definitions that a typo in a builder would trip. */
function validateCommand(cmd: Json, at: string): void {
  const bad = (field: string, message: string): never => { throw new ApiError(400, 50035, 'Invalid Form Body', { [`${at}.${field}`]: { _errors: [{ code: 'INVALID', message }] } }); };
  if (typeof cmd.name !== 'string' || !NAME.test(cmd.name)) bad('name', 'Command name is invalid');
  const isChatInput = (cmd.type ?? 1) === 1;
  if (isChatInput && (typeof cmd.description !== 'string' || cmd.description.length < 1 || cmd.description.length > 100)) bad('description', 'Must be between 1 and 100 in length.');
  const options = (cmd.options as Json[] | undefined) ?? [];
  if (options.length > 25) bad('options', 'Must be 25 or fewer in length.');
  let optionalSeen = false;
  options.forEach((o, i) => {
    if (o.required && optionalSeen) bad(`options.${i}.required`, 'Required options must be placed before non-required options');
    if (!o.required) optionalSeen = true;
    validateCommand({ ...o, type: 1 }, `${at}.options.${i}`);
  });
}

function commandsRoute(c: Call): Reply {
  const { world, appId } = c.hub;
  if (c.p.app !== appId) throw new ApiError(403, 50001, 'Missing Access');
  const scope = c.p.guild ?? 'global';
  const store = world.commands.get(scope) ?? new Map<string, Json>();
  world.commands.set(scope, store);
  const save = (def: Json, i: number): Json => {
    validateCommand(def, String(i));
    const old = store.get(String(def.name));
    const cmd = {
      ...def, id: old?.id ?? world.snowflake(), application_id: appId, version: world.snowflake(), type: def.type ?? 1,
      default_member_permissions: def.default_member_permissions ?? null, nsfw: false, ...(c.p.guild ? { guild_id: c.p.guild } : {}),
    };
    store.set(String(def.name), cmd);
    return cmd;
  };
  if (c.method === 'GET') return ok([...store.values()]);
  if (c.method === 'POST') return { status: 201, body: save(obj(c), 0) };
  if (c.method === 'DELETE') { for (const [n, cmd] of store) if (cmd.id === c.p.command) store.delete(n); return NO_CONTENT; }
  // PUT = bulk overwrite: commands not in the list are deleted; ones with the same name keep their id.
  if (!Array.isArray(c.body)) throw new ApiError(400, 50035, 'Invalid Form Body');
  const defs = c.body as Json[];
  const kept = new Map(store);
  store.clear();
  for (const [n, cmd] of kept) if (defs.some((d) => d.name === n)) store.set(n, { id: cmd.id });
  return ok(defs.map(save));
}

const ROUTES: [string, string, Handler][] = [
  ['GET', '/gateway/bot', (c) => ok({ url: c.hub.gatewayUrl, shards: c.hub.shards, session_start_limit: { total: 1000, remaining: 999, reset_after: 0, max_concurrency: c.hub.maxConcurrency } })],
  ['GET', '/users/@me', (c) => ok(c.hub.world.apiUser(c.hub.botId))],
  ['GET', '/users/:user', (c) => ok(c.hub.world.apiUser(c.p.user ?? ''))],
  ['GET', '/applications/@me', (c) => ok({ id: c.hub.appId, name: c.hub.world.user(c.hub.botId).username, description: '', bot_public: true, bot_require_code_grant: false, flags: 0, bot: c.hub.world.apiUser(c.hub.botId) })],
  ['GET|PUT|POST', '/applications/:app/commands', commandsRoute],
  ['DELETE', '/applications/:app/commands/:command', commandsRoute],
  ['GET|PUT|POST', '/applications/:app/guilds/:guild/commands', commandsRoute],
  ['DELETE', '/applications/:app/guilds/:guild/commands/:command', commandsRoute],
  ['GET', '/guilds/:guild', (c) => {
    const g = c.hub.world.guilds.get(c.p.guild ?? '');
    if (!g) throw new ApiError(404, 10004, 'Unknown Guild');
    const { members: _m, channels: _c, threads: _t, ...rest } = c.hub.world.apiGuild(g);
    return ok(rest);
  }],
  ['GET', '/guilds/:guild/members/:user', (c) => ok(c.hub.world.apiMember(c.p.guild ?? '', c.p.user ?? ''))],
  ['GET', '/channels/:channel', (c) => ok(c.hub.world.apiChannel(c.hub.world.channel(c.p.channel ?? '')))],
  ['GET', '/channels/:channel/messages', channelMessages],
  ['POST', '/channels/:channel/messages', postMessage],
  ['GET|PATCH|DELETE', '/channels/:channel/messages/:message', messageRoute],
  ['POST', '/channels/:channel/messages/:message/threads', threadRoute],
  ['POST', '/channels/:channel/threads', threadRoute],
  ['PUT|DELETE', '/channels/:channel/messages/:message/reactions/:emoji/:user', reactionRoute],
  ['GET|DELETE', '/channels/:channel/messages/:message/reactions/:emoji', reactionRoute],
  ['DELETE', '/channels/:channel/messages/:message/reactions', reactionRoute],
  ['POST', '/interactions/:interaction/:token/callback', (c) => interactionCallback(c.hub, c.p.interaction ?? '', c.p.token ?? '', obj(c), c.files, c.query.get('with_response') === 'true')],
  ['POST', '/webhooks/:app/:token', (c) => followup(c.hub, c.p.app ?? '', c.p.token ?? '', obj(c), c.files, c.query.get('wait') === 'true')],
  ['GET|PATCH|DELETE', '/webhooks/:app/:token/messages/:message', (c) => webhookMessage(c.hub, c.method, c.p.app ?? '', c.p.token ?? '', c.p.message ?? '', obj(c), c.files)],
];

const COMPILED = ROUTES.map(([methods, pattern, handler]) => ({
  methods: methods.split('|'), pattern, handler,
  re: new RegExp(`^${pattern.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`),
}));

async function readBody(req: IncomingMessage): Promise<{ body: unknown; files: UploadedFile[] }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  const type = req.headers['content-type'] ?? '';
  if (!raw.length) return { body: undefined, files: [] };
  if (!type.startsWith('multipart/form-data')) return { body: JSON.parse(raw.toString('utf8')), files: [] };
  // Node's fetch Response parses multipart for us; discord.js sends payload_json plus files[n].
  const form = await new Response(raw, { headers: { 'content-type': type } }).formData();
  const files: UploadedFile[] = [];
  let body: unknown;
  for (const [field, value] of form) {
    if (typeof value === 'string') { if (field === 'payload_json') body = JSON.parse(value); continue; }
    files.push({ field, filename: value.name, contentType: value.type || 'application/octet-stream', data: Buffer.from(await value.arrayBuffer()) });
  }
  return { body, files };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (status === 204 || body === undefined) { res.writeHead(status, headers).end(); return; }
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Answers a matched failure rule the way Discord does, so discord.js's REST queue waits and retries. */
function injectFailure(res: ServerResponse, rule: FailureRule, route: string): number {
  if (rule.status !== 429) { send(res, rule.status, { message: `${rule.status}: Server Error`, code: 0 }); return rule.status; }
  const after = rule.retryAfter ?? 0.1;
  const headers: Record<string, string> = {
    'retry-after': String(after), 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': String(after),
    'x-ratelimit-reset': String(Date.now() / 1000 + after), 'x-ratelimit-bucket': Buffer.from(route).toString('hex').slice(0, 32),
    'x-ratelimit-scope': rule.global ? 'global' : 'user', ...(rule.global ? { 'x-ratelimit-global': 'true' } : {}),
  };
  send(res, 429, { message: 'You are being rate limited.', retry_after: after, global: Boolean(rule.global) }, headers);
  return 429;
}

export async function handleRest(hub: RestHub, req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): Promise<void> {
  const method = req.method ?? 'GET';
  const match = COMPILED.map((r) => ({ r, m: r.re.exec(path) })).find(({ r, m }) => m && r.methods.includes(method));
  const record: RecordedRequest = { at: Date.now(), method, path, route: match?.r.pattern ?? '?', query: Object.fromEntries(query), body: undefined, files: [], status: 0 };
  hub.requests.push(record);
  try {
    const { body, files } = await readBody(req);
    record.body = body;
    record.files = files;
    const rule = hub.rules.find((r) => r.remaining > 0 && (!r.method || r.method.toUpperCase() === method) && ((r.route.lastIndex = 0), r.route.test(path)));
    if (rule) { rule.remaining--; rule.hits++; record.status = injectFailure(res, rule, record.route); return; }
    if (!match?.m) throw new ApiError(404, 0, '404: Not Found');
    // Interaction callbacks and the interaction webhook authenticate by their token, not the bot token.
    const open = path.startsWith('/interactions/') || path.startsWith('/webhooks/');
    if (!open && req.headers.authorization !== `Bot ${hub.token}`) throw new ApiError(401, 0, '401: Unauthorized');
    const reply = match.r.handler({ hub, p: { ...match.m.groups }, body, files, query, method });
    record.status = reply.status ?? 200;
    send(res, record.status, reply.body);
  } catch (err) {
    const api = err instanceof ApiError ? err : new ApiError(500, 0, `fake-discord bug: ${String(err)}`);
    if (!(err instanceof ApiError)) hub.internalErrors.push(err instanceof Error ? err : new Error(String(err)));
    record.status = api.status;
    send(res, api.status, { message: api.message, code: api.code, ...(api.errors ? { errors: api.errors } : {}) });
  } finally {
    hub.changed();
  }
}
