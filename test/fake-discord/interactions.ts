// Interactions: the payloads a user's slash command or button click produces, the callback that answers them,
// and the interaction webhook (followups, @original) the bot uses afterwards.
import { randomBytes } from 'node:crypto';
import {
  ApplicationCommandOptionType as Opt, ApplicationCommandType, ChannelType, ComponentType, InteractionResponseType as R,
  InteractionType, MessageType,
} from 'discord.js';
import { createMessage, deleteMessage, editMessage, MAX_FILE_BYTES, type Hub, type UploadedFile } from './messages.js';
import { ApiError, EPHEMERAL, type FakeChannel, type FakeInteraction, type FakeMessage, type Json } from './world.js';

export interface InteractionHub extends Hub {
  appId: string;
  /** Discord drops an interaction not answered within 3 s. */
  ackDeadlineMs: number;
  /** Interaction tokens (webhook access) live 15 minutes. */
  tokenTtlMs: number;
}

export type OptionValue = string | number | boolean;

function context(hub: InteractionHub, userId: string, channel: FakeChannel): Json {
  const { world } = hub;
  const base = {
    application_id: hub.appId, version: 1, locale: 'en-US', entitlements: [], attachment_size_limit: MAX_FILE_BYTES,
    channel_id: channel.id, app_permissions: world.permissions(channel.guildId, hub.botId).toString(),
  };
  if (channel.type === ChannelType.DM) {
    return { ...base, channel: world.apiChannel(channel), user: world.apiUser(userId), context: 1, authorizing_integration_owners: { '0': '0' } };
  }
  const guildId = channel.guildId ?? '';
  return {
    ...base, guild_id: guildId, guild: { id: guildId, locale: 'en-US', features: [] }, guild_locale: 'en-US', context: 0,
    channel: { ...world.apiChannel(channel), permissions: world.permissions(guildId, userId).toString() },
    member: world.apiMember(guildId, userId, true), authorizing_integration_owners: { '0': guildId },
  };
}

function register(hub: InteractionHub, payload: Json, sourceMessageId?: string): FakeInteraction {
  const id = hub.world.snowflake();
  // Shaped like Discord's: base64 of interaction:<id>:<secret>, so URL-safe as a path segment.
  const token = Buffer.from(`interaction:${id}:${randomBytes(32).toString('hex')}`).toString('base64url');
  const now = Date.now();
  const ix: FakeInteraction = { id, token, payload: { ...payload, id, token }, createdAt: now, tokenExpiresAt: now + hub.tokenTtlMs, followupIds: [], sourceMessageId };
  hub.world.interactions.set(id, ix);
  hub.dispatch('INTERACTION_CREATE', ix.payload, 0);
  hub.changed();
  return ix;
}

function inferType(v: OptionValue): Opt {
  if (typeof v === 'string') return Opt.String;
  if (typeof v === 'boolean') return Opt.Boolean;
  return Number.isInteger(v) ? Opt.Integer : Opt.Number;
}

/**
 * Builds data.options the way Discord's client does: types come from the registered command when there is
 * one (so getInteger/getNumber work), else are inferred. Like a modified client, the fake does NOT enforce
 * min/max/choices or default_member_permissions: the bot must check those itself.
 */
function commandData(hub: InteractionHub, guildId: string | undefined, fullName: string, values: Record<string, OptionValue>): Json {
  const { world } = hub;
  const [name = '', ...path] = fullName.trim().split(/\s+/);
  const cmd = (guildId ? world.commands.get(guildId)?.get(name) : undefined) ?? world.commands.get('global')?.get(name);
  const resolved: Record<string, Record<string, Json>> = {};
  let schema = cmd?.options as Json[] | undefined;
  const wrappers: Json[] = [];
  for (const sub of path) {
    const found = schema?.find((o) => o.name === sub);
    if (cmd && !found) throw new Error(`/${name} has no subcommand "${sub}"`);
    wrappers.push({ type: found?.type ?? (sub === path[path.length - 1] ? Opt.Subcommand : Opt.SubcommandGroup), name: sub, options: [] });
    schema = found?.options as Json[] | undefined;
  }
  const options = Object.entries(values).map(([key, value]) => {
    const def = schema?.find((o) => o.name === key);
    if (cmd && !def) throw new Error(`/${fullName} has no option "${key}" (registered: ${(schema ?? []).map((o) => o.name).join(', ') || 'none'})`);
    const type = (def?.type as Opt | undefined) ?? inferType(value);
    const id = String(value);
    if (type === Opt.User || type === Opt.Mentionable) {
      (resolved.users ??= {})[id] = world.apiUser(id);
      if (guildId) { const { user: _u, ...m } = world.apiMember(guildId, id, true); (resolved.members ??= {})[id] = m; }
    } else if (type === Opt.Channel) {
      const c = world.channel(id);
      (resolved.channels ??= {})[id] = { id, name: c.name, type: c.type, permissions: world.permissions(guildId, hub.botId).toString(), ...(c.parentId ? { parent_id: c.parentId } : {}) };
    } else if (type === Opt.Role) {
      const role = guildId ? world.guilds.get(guildId)?.roles.get(id) : undefined;
      if (!role) throw new Error(`no role ${id}`);
      (resolved.roles ??= {})[id] = world.apiRole(role);
    } else if (type === Opt.Attachment) {
      const a = world.attachments.get(id);
      if (!a) throw new Error(`no attachment ${id}: make one with fake.attachment(filename, data)`);
      // Files attached to a command are ephemeral on Discord's CDN until a message uses them.
      (resolved.attachments ??= {})[id] = { ...world.apiAttachment(a), ephemeral: true };
    }
    return { name: key, type, value };
  });
  for (const req of schema ?? []) {
    if (req.required && !(String(req.name) in values)) throw new Error(`/${fullName} needs option "${String(req.name)}"`);
  }
  // Nest the leaf options under the subcommand (and its group), innermost last.
  let leaf: Json[] = options;
  for (const w of wrappers.reverse()) { w.options = leaf; leaf = [w]; }
  return {
    id: cmd?.id ?? world.snowflake(), name, type: ApplicationCommandType.ChatInput, options: leaf,
    ...(Object.keys(resolved).length ? { resolved } : {}), ...(cmd?.guild_id ? { guild_id: cmd.guild_id } : {}),
  };
}

export function slashInteraction(hub: InteractionHub, userId: string, channelId: string, name: string, values: Record<string, OptionValue>): FakeInteraction {
  const channel = hub.world.channel(channelId);
  const data = commandData(hub, channel.guildId, name, values);
  return register(hub, { type: InteractionType.ApplicationCommand, data, ...context(hub, userId, channel) });
}

/**
 * What Discord sends while a member types into an autocomplete option: the options so far, the one
 * being typed marked focused (its value the partial text). The answer is a type 8 callback with choices.
 */
export function autocompleteInteraction(hub: InteractionHub, userId: string, channelId: string, name: string, values: Record<string, OptionValue>, focused: string): FakeInteraction {
  const channel = hub.world.channel(channelId);
  const data = commandData(hub, channel.guildId, name, values);
  const mark = (options: Json[]): boolean => options.some((o) => {
    if (o.name === focused && !Array.isArray(o.options)) {
      o.focused = true;
      return true;
    }
    return Array.isArray(o.options) && mark(o.options as Json[]);
  });
  if (!mark(data.options as Json[])) throw new Error(`/${name}: the focused option "${focused}" must be among the options given`);
  return register(hub, { type: InteractionType.ApplicationCommandAutocomplete, data, ...context(hub, userId, channel) });
}

function findComponent(components: Json[], customId: string): Json | undefined {
  for (const c of components) {
    if (c.custom_id === customId) return c;
    const inner = Array.isArray(c.components) ? findComponent(c.components as Json[], customId) : undefined;
    if (inner) return inner;
  }
  return undefined;
}

export function componentInteraction(hub: InteractionHub, userId: string, m: FakeMessage, customId: string): FakeInteraction {
  const component = findComponent(m.components, customId);
  if (!component) throw new Error(`message ${m.id} has no component "${customId}"`);
  if (component.disabled) throw new Error(`component "${customId}" on message ${m.id} is disabled; a user cannot click it`);
  const channel = hub.world.channel(m.channelId);
  const data = { custom_id: customId, component_type: Number(component.type ?? ComponentType.Button) };
  return register(hub, { type: InteractionType.MessageComponent, data, message: hub.world.apiMessage(m, hub.botId), ...context(hub, userId, channel) }, m.id);
}

/** POST /interactions/{id}/{token}/callback — the first (and only) answer to an interaction. */
export function interactionCallback(hub: InteractionHub, id: string, token: string, body: Json, files: UploadedFile[], withResponse: boolean): { status: number; body?: Json } {
  const ix = hub.world.interactions.get(id);
  if (!ix || ix.token !== token) throw new ApiError(404, 10062, 'Unknown interaction');
  if (ix.response) throw new ApiError(400, 40060, 'Interaction has already been acknowledged.');
  const ackMs = Date.now() - ix.createdAt;
  if (ackMs > hub.ackDeadlineMs) { ix.lateAckMs = ackMs; hub.changed(); throw new ApiError(404, 10062, 'Unknown interaction'); }
  const type = Number(body.type);
  const data = (body.data ?? {}) as Json;
  const ephemeral = Boolean(Number(data.flags ?? 0) & EPHEMERAL);
  const channel = hub.world.channel(String(ix.payload.channel_id));
  const isComponent = ix.payload.type === InteractionType.MessageComponent;
  const source = ix.sourceMessageId ? hub.world.messages.get(ix.sourceMessageId) : undefined;
  let message: FakeMessage | undefined;
  const extra = { interactionId: id, webhookId: hub.appId, ephemeral, type: isComponent ? MessageType.Default : MessageType.ChatInputCommand };
  switch (type) {
    case R.ChannelMessageWithSource: message = createMessage(hub, channel, hub.botId, data, files, extra); break;
    case R.DeferredChannelMessageWithSource: message = createMessage(hub, channel, hub.botId, {}, [], { ...extra, loading: true }); break;
    case R.DeferredMessageUpdate: case R.UpdateMessage:
      if (!isComponent || !source) throw new ApiError(400, 40004, 'Interaction callback type not allowed for this interaction');
      if (source.deleted) throw new ApiError(404, 10008, 'Unknown Message');
      message = type === R.UpdateMessage ? editMessage(hub, source, data, files) : source;
      break;
    case R.ApplicationCommandAutocompleteResult: case R.Modal: break;
    default: throw new ApiError(400, 50035, 'Invalid Form Body', { type: { _errors: [{ code: 'BASE_TYPE_CHOICES', message: `Value must be one of known callback types.` }] } });
  }
  ix.originalMessageId = message?.id;
  ix.response = { type, data, files: type === R.ChannelMessageWithSource || type === R.UpdateMessage ? [...(message?.attachments ?? [])] : [], ephemeral, ackMs, messageId: message?.id };
  hub.changed();
  if (!withResponse) return { status: 204 };
  return {
    status: 200,
    body: {
      interaction: { id, type: ix.payload.type, response_message_id: message?.id, response_message_loading: type === R.DeferredChannelMessageWithSource, response_message_ephemeral: ephemeral },
      resource: { type, ...(message ? { message: hub.world.apiMessage(message, hub.botId) } : {}) },
    },
  };
}

/** The interaction webhook authenticates by token; it expires 15 minutes after the interaction. */
function byToken(hub: InteractionHub, appId: string, token: string): FakeInteraction {
  const ix = appId === hub.appId ? [...hub.world.interactions.values()].find((i) => i.token === token) : undefined;
  if (!ix) throw new ApiError(404, 10015, 'Unknown Webhook');
  if (Date.now() > ix.tokenExpiresAt) throw new ApiError(401, 50027, 'Invalid Webhook Token');
  return ix;
}

/** POST /webhooks/{app}/{token}: a followup; only after the interaction was answered. */
export function followup(hub: InteractionHub, appId: string, token: string, body: Json, files: UploadedFile[], wait: boolean): { status: number; body?: Json } {
  const ix = byToken(hub, appId, token);
  if (!ix.response) throw new ApiError(404, 10015, 'Unknown Webhook');
  const channel = hub.world.channel(String(ix.payload.channel_id));
  const ephemeral = Boolean(Number(body.flags ?? 0) & EPHEMERAL);
  const m = createMessage(hub, channel, hub.botId, body, files, { interactionId: ix.id, webhookId: hub.appId, ephemeral });
  ix.followupIds.push(m.id);
  return wait ? { status: 200, body: hub.world.apiMessage(m, hub.botId) } : { status: 204 };
}

/** GET/PATCH/DELETE /webhooks/{app}/{token}/messages/{id|@original}. */
export function webhookMessage(hub: InteractionHub, method: string, appId: string, token: string, messageId: string, body: Json, files: UploadedFile[]): { status: number; body?: Json } {
  const ix = byToken(hub, appId, token);
  const id = messageId === '@original' ? ix.originalMessageId : ix.followupIds.find((f) => f === messageId);
  const m = id ? hub.world.messages.get(id) : undefined;
  if (!m || m.deleted) throw new ApiError(404, 10008, 'Unknown Message');
  if (method === 'DELETE') { deleteMessage(hub, m); return { status: 204 }; }
  if (method === 'PATCH') editMessage(hub, m, body, files);
  return { status: 200, body: hub.world.apiMessage(m, hub.botId) };
}
