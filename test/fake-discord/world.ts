// The fake's state (users, guilds, channels, messages, interactions) and how each thing looks on the wire.
// Shapes follow Discord API v10 closely enough for discord.js v14 to build its caches from them.
import { ChannelType, MessageFlags, PermissionFlagsBits } from 'discord.js';

/** JSON as it travels; payloads are checked by handlers, not by types. */
export type Json = Record<string, unknown>;

export interface UserView { id: string; username: string; bot: boolean }

export interface AttachmentView {
  id: string; filename: string; contentType: string; size: number; data: Buffer;
  description?: string; width?: number; height?: number; url: string;
}

export interface MessageVersion {
  at: number; content: string; embeds: Json[]; components: Json[]; attachments: AttachmentView[];
}

export interface FakeMessage {
  id: string; channelId: string; guildId?: string; authorId: string; type: number;
  content: string; embeds: Json[]; components: Json[]; attachments: AttachmentView[]; flags: number;
  allowedMentions?: Json; reactions: Map<string, Set<string>>; threadId?: string;
  interactionId?: string; webhookId?: string; ephemeral: boolean; deleted: boolean;
  createdAt: number; editedAt?: number; history: MessageVersion[];
}

export interface FakeChannel {
  id: string; type: ChannelType; name: string; guildId?: string; parentId?: string; ownerId?: string;
  starterMessageId?: string; recipientId?: string; createdAt: number; archiveMinutes?: number;
}

export interface FakeRole { id: string; name: string; permissions: bigint; position: number; managed: boolean }
export interface FakeMember { userId: string; roleIds: string[]; joinedAt: number }
export interface FakeGuild { id: string; name: string; ownerId: string; roles: Map<string, FakeRole>; members: Map<string, FakeMember> }

/** What the fake saw as the first answer to an interaction (the callback). */
export interface InitialResponse {
  type: number; data: Json; files: AttachmentView[]; ephemeral: boolean; ackMs: number; messageId?: string;
}

export interface FakeInteraction {
  id: string; token: string; payload: Json; createdAt: number; tokenExpiresAt: number;
  response?: InitialResponse; originalMessageId?: string; followupIds: string[];
  /** For a component click: the message the component is on (what @original means after type 6/7). */
  sourceMessageId?: string;
  /** Set when the bot answered after the deadline (ms after dispatch); Discord had already dropped it. */
  lateAckMs?: number;
}

/** The view tests read: a snapshot, so read again after a change. */
export interface MessageView {
  id: string; channelId: string; guildId?: string; author: UserView; content: string; embeds: Json[];
  components: Json[]; attachments: AttachmentView[]; flags: number; ephemeral: boolean; deleted: boolean;
  reactions: { emoji: string; users: string[] }[]; threadId?: string; interactionId?: string;
  /** Who would be notified: '@everyone', '@here', 'user:<id>', 'role:<id>' after allowed_mentions. */
  pings: string[]; allowedMentions?: Json; createdAt: number; editedAt?: number;
  /** Every version, first = as created; each edit appends one. */
  history: MessageVersion[];
}

export interface ThreadView { id: string; name: string; parentId: string; ownerId: string; starterMessageId?: string }

const DISCORD_EPOCH = 1420070400000n;
export const ALL_PERMISSIONS = Object.values(PermissionFlagsBits).reduce((a, b) => a | b, 0n);

const P = PermissionFlagsBits;
/** Roughly what a new server gives @everyone. */
export const EVERYONE_PERMISSIONS = P.ViewChannel | P.SendMessages | P.SendMessagesInThreads | P.CreatePublicThreads |
  P.EmbedLinks | P.AttachFiles | P.ReadMessageHistory | P.AddReactions | P.UseApplicationCommands | P.UseExternalEmojis;
/** The invite permissions the README asks for. */
export const BOT_PERMISSIONS = P.ViewChannel | P.SendMessages | P.SendMessagesInThreads | P.CreatePublicThreads |
  P.AttachFiles | P.AddReactions | P.ReadMessageHistory | P.ManageMessages | P.EmbedLinks;

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: number, message: string, readonly errors?: Json) { super(message); }
}

export class World {
  readonly users = new Map<string, UserView>();
  readonly guilds = new Map<string, FakeGuild>();
  readonly channels = new Map<string, FakeChannel>();
  readonly messages = new Map<string, FakeMessage>();
  /** Messages per channel in creation order (ids grow, so this is also id order). */
  readonly byChannel = new Map<string, FakeMessage[]>();
  /** Every uploaded attachment by id, for downloads of its url. */
  readonly attachments = new Map<string, AttachmentView>();
  readonly interactions = new Map<string, FakeInteraction>();
  /** Registered commands by scope: 'global' or a guild id, then by name. */
  readonly commands = new Map<string, Map<string, Json>>();
  private lastId = 0n;

  constructor(readonly baseUrl: string) {}

  /** Real-looking, strictly increasing snowflakes: discord.js routes rate limits by 17–19 digit ids. */
  snowflake(): string {
    const next = (BigInt(Date.now()) - DISCORD_EPOCH) << 22n;
    this.lastId = next > this.lastId ? next : this.lastId + 1n;
    return this.lastId.toString();
  }

  /** A snowflake for a guild on shard `id` of `count`: Discord's rule reads its timestamp, which moves ahead up to count−1 ms. */
  snowflakeOnShard(id: number, count: number): string {
    // From a fresh snowflake, then whole milliseconds ahead: still larger than every id issued so far.
    // (Resetting to the start of a millisecond could hand out an id a channel of another guild already
    // had, and that channel's interactions then went to this guild's shard.)
    let next = BigInt(this.snowflake());
    while ((next >> 22n) % BigInt(count) !== BigInt(id)) next = ((next >> 22n) + 1n) << 22n;
    this.lastId = next;
    return next.toString();
  }

  addMessage(m: FakeMessage): void {
    this.messages.set(m.id, m);
    const list = this.byChannel.get(m.channelId) ?? [];
    list.push(m);
    this.byChannel.set(m.channelId, list);
  }

  /** Visible messages of a channel: neither deleted nor ephemeral. */
  inChannel(channelId: string): FakeMessage[] {
    return (this.byChannel.get(channelId) ?? []).filter((m) => !m.deleted && !m.ephemeral);
  }

  user(id: string): UserView {
    const u = this.users.get(id);
    if (!u) throw new ApiError(404, 10013, 'Unknown User');
    return u;
  }

  channel(id: string): FakeChannel {
    const c = this.channels.get(id);
    if (!c) throw new ApiError(404, 10003, 'Unknown Channel');
    return c;
  }

  message(channelId: string, id: string): FakeMessage {
    const m = this.messages.get(id);
    if (!m || m.deleted || m.ephemeral || m.channelId !== channelId) throw new ApiError(404, 10008, 'Unknown Message');
    return m;
  }

  /** Guild-level permissions from roles (channel overwrites are not modelled); owner and Administrator get all. */
  permissions(guildId: string | undefined, userId: string): bigint {
    const guild = guildId ? this.guilds.get(guildId) : undefined;
    if (!guild) return ALL_PERMISSIONS; // DMs: no permission system
    if (guild.ownerId === userId) return ALL_PERMISSIONS;
    const member = guild.members.get(userId);
    let bits = guild.roles.get(guild.id)?.permissions ?? 0n;
    for (const r of member?.roleIds ?? []) bits |= guild.roles.get(r)?.permissions ?? 0n;
    return bits & P.Administrator ? ALL_PERMISSIONS : bits;
  }

  /** Throws Discord's 403 when the bot lacks a permission in the channel's guild. */
  requireBot(channel: FakeChannel, bits: bigint, botId: string): void {
    if ((this.permissions(channel.guildId, botId) & bits) !== bits) throw new ApiError(403, 50013, 'Missing Permissions');
  }

  // ---- wire shapes ----

  apiUser(id: string): Json {
    const u = this.user(id);
    return { id: u.id, username: u.username, global_name: u.username, discriminator: '0', avatar: null, bot: u.bot, public_flags: 0 };
  }

  apiRole(r: FakeRole): Json {
    return {
      id: r.id, name: r.name, color: 0, colors: { primary_color: 0, secondary_color: null, tertiary_color: null },
      hoist: false, icon: null, unicode_emoji: null, position: r.position, permissions: r.permissions.toString(),
      managed: r.managed, mentionable: false, flags: 0,
    };
  }

  apiMember(guildId: string, userId: string, withPermissions = false): Json {
    const member = this.guilds.get(guildId)?.members.get(userId);
    if (!member) throw new ApiError(404, 10007, 'Unknown Member');
    return {
      user: this.apiUser(userId), nick: null, avatar: null, roles: member.roleIds, joined_at: new Date(member.joinedAt).toISOString(),
      premium_since: null, deaf: false, mute: false, flags: 0, pending: false, communication_disabled_until: null,
      ...(withPermissions ? { permissions: this.permissions(guildId, userId).toString() } : {}),
    };
  }

  apiChannel(c: FakeChannel): Json {
    if (c.type === ChannelType.DM) return { id: c.id, type: c.type, last_message_id: null, recipients: [this.apiUser(c.recipientId ?? '')], flags: 0 };
    const base = { id: c.id, type: c.type, guild_id: c.guildId, name: c.name, parent_id: c.parentId ?? null, flags: 0, rate_limit_per_user: 0, last_message_id: null };
    if (c.type !== ChannelType.PublicThread) return { ...base, position: 0, permission_overwrites: [], topic: null, nsfw: false };
    const count = this.inChannel(c.id).length;
    return {
      ...base, owner_id: c.ownerId, message_count: count, total_message_sent: count, member_count: 1,
      thread_metadata: {
        archived: false, locked: false, auto_archive_duration: c.archiveMinutes ?? 1440,
        archive_timestamp: new Date(c.createdAt).toISOString(), create_timestamp: new Date(c.createdAt).toISOString(),
      },
    };
  }

  /** GUILD_CREATE: discord.js fills guild.channels/roles/members caches from exactly this. */
  apiGuild(g: FakeGuild): Json {
    const channels = [...this.channels.values()].filter((c) => c.guildId === g.id);
    return {
      id: g.id, name: g.name, icon: null, owner_id: g.ownerId, unavailable: false, large: false, features: [], emojis: [], stickers: [],
      member_count: g.members.size, joined_at: new Date().toISOString(), preferred_locale: 'en-US', afk_timeout: 300,
      verification_level: 0, default_message_notifications: 0, explicit_content_filter: 0, mfa_level: 0, nsfw_level: 0,
      premium_tier: 0, system_channel_id: null, system_channel_flags: 0, application_id: null, premium_progress_bar_enabled: false,
      roles: [...g.roles.values()].map((r) => this.apiRole(r)),
      members: [...g.members.keys()].map((id) => this.apiMember(g.id, id)),
      channels: channels.filter((c) => c.type !== ChannelType.PublicThread).map((c) => this.apiChannel(c)),
      threads: channels.filter((c) => c.type === ChannelType.PublicThread).map((c) => this.apiChannel(c)),
      presences: [], voice_states: [], stage_instances: [], guild_scheduled_events: [], soundboard_sounds: [],
    };
  }

  apiAttachment(a: AttachmentView): Json {
    return {
      id: a.id, filename: a.filename, size: a.size, url: a.url, proxy_url: a.url, content_type: a.contentType,
      ...(a.description ? { description: a.description } : {}), ...(a.width ? { width: a.width, height: a.height } : {}),
    };
  }

  apiMessage(m: FakeMessage, botId: string): Json {
    const thread = m.threadId ? this.channels.get(m.threadId) : undefined;
    return {
      id: m.id, channel_id: m.channelId, ...(m.guildId ? { guild_id: m.guildId } : {}), author: this.apiUser(m.authorId),
      content: m.content, embeds: m.embeds, components: m.components, attachments: m.attachments.map((a) => this.apiAttachment(a)),
      flags: m.flags, type: m.type, tts: false, pinned: false, mention_everyone: false, mentions: [], mention_roles: [],
      timestamp: new Date(m.createdAt).toISOString(), edited_timestamp: m.editedAt ? new Date(m.editedAt).toISOString() : null,
      reactions: [...m.reactions].filter(([, us]) => us.size > 0).map(([emoji, us]) => ({
        emoji: { id: null, name: emoji }, count: us.size, me: us.has(botId), count_details: { burst: 0, normal: us.size },
        me_burst: false, burst_me: false, burst_count: 0, burst_colors: [],
      })),
      ...(m.webhookId ? { webhook_id: m.webhookId, application_id: m.webhookId } : {}),
      ...(m.interactionId ? { interaction_metadata: this.interactionMetadata(m.interactionId) } : {}),
      ...(thread ? { thread: this.apiChannel(thread) } : {}),
    };
  }

  private interactionMetadata(id: string): Json | undefined {
    const p = this.interactions.get(id)?.payload;
    if (!p) return undefined;
    const user = (p.user ?? (p.member as Json).user) as Json;
    return { id, type: p.type, user, authorizing_integration_owners: p.authorizing_integration_owners };
  }

  view(m: FakeMessage): MessageView {
    return {
      id: m.id, channelId: m.channelId, guildId: m.guildId, author: this.user(m.authorId), content: m.content, embeds: m.embeds,
      components: m.components, attachments: [...m.attachments], flags: m.flags, ephemeral: m.ephemeral, deleted: m.deleted,
      reactions: [...m.reactions].filter(([, us]) => us.size > 0).map(([emoji, us]) => ({ emoji, users: [...us] })),
      threadId: m.threadId, interactionId: m.interactionId, pings: pings(m.content, m.allowedMentions),
      allowedMentions: m.allowedMentions, createdAt: m.createdAt, editedAt: m.editedAt, history: [...m.history],
    };
  }
}

/** Mentions that would notify someone. Without allowed_mentions Discord parses every kind in the content. */
export function pings(content: string, allowed: Json | undefined): string[] {
  const parse = Array.isArray(allowed?.parse) ? (allowed.parse as string[]) : allowed ? [] : ['users', 'roles', 'everyone'];
  const users = Array.isArray(allowed?.users) ? (allowed.users as string[]) : [];
  const roles = Array.isArray(allowed?.roles) ? (allowed.roles as string[]) : [];
  const out = new Set<string>();
  for (const [, id] of content.matchAll(/<@!?(\d+)>/g)) if (id && (parse.includes('users') || users.includes(id))) out.add(`user:${id}`);
  for (const [, id] of content.matchAll(/<@&(\d+)>/g)) if (id && (parse.includes('roles') || roles.includes(id))) out.add(`role:${id}`);
  for (const [word] of content.matchAll(/@(everyone|here)\b/g)) if (parse.includes('everyone')) out.add(word);
  return [...out];
}

/** Width and height from a PNG's IHDR chunk, so tests can check image sizes without decoding. */
export function pngSize(data: Buffer): { width: number; height: number } | undefined {
  const isPng = data.length >= 24 && data.readUInt32BE(0) === 0x89504e47 && data.toString('latin1', 12, 16) === 'IHDR';
  return isPng ? { width: data.readUInt32BE(16), height: data.readUInt32BE(20) } : undefined;
}

export const EPHEMERAL = MessageFlags.Ephemeral;
