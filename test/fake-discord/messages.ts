// Message life cycle shared by REST routes and the test driver: create, edit (attachments swapped in place),
// delete, reactions; each change dispatches the gateway event Discord would send.
import { ChannelType, GatewayIntentBits as I, MessageFlags, MessageType } from 'discord.js';
import { ApiError, pngSize, type AttachmentView, type FakeChannel, type FakeMessage, type Json, type World } from './world.js';

/** What messages.ts needs from the fake around it. */
export interface Hub {
  world: World;
  botId: string;
  /** Send a dispatch to connected sessions whose intents include `intent` (0 = always sent). */
  dispatch(t: string, d: Json, intent: number): void;
  /** Wake waitFor() after any state change. */
  changed(): void;
}

export interface UploadedFile { field: string; filename: string; contentType: string; data: Buffer }

const MAX_CONTENT = 2000;
const MAX_FILES = 10;
export const MAX_FILE_BYTES = 10 * 1024 * 1024;

function invalidForm(field: string, message: string, code: string): ApiError {
  return new ApiError(400, 50035, 'Invalid Form Body', { [field]: { _errors: [{ code, message }] } });
}

function validate(body: Json, files: UploadedFile[]): void {
  if (typeof body.content === 'string' && body.content.length > MAX_CONTENT) {
    throw invalidForm('content', `Must be ${MAX_CONTENT} or fewer in length.`, 'BASE_TYPE_MAX_LENGTH');
  }
  if (Array.isArray(body.embeds) && body.embeds.length > 10) throw invalidForm('embeds', 'Must be 10 or fewer in length.', 'BASE_TYPE_MAX_LENGTH');
  if (files.length > MAX_FILES) throw invalidForm('files', `Must be ${MAX_FILES} or fewer in length.`, 'BASE_TYPE_MAX_LENGTH');
  if (files.some((f) => f.data.length > MAX_FILE_BYTES)) throw new ApiError(413, 40005, 'Request entity too large');
}

function upload(world: World, channelId: string, file: UploadedFile, meta: Json | undefined): AttachmentView {
  const id = world.snowflake();
  const filename = typeof meta?.filename === 'string' ? meta.filename : file.filename;
  const a: AttachmentView = {
    id, filename, contentType: file.contentType, size: file.data.length, data: file.data,
    url: `${world.baseUrl}/attachments/${channelId}/${id}/${encodeURIComponent(filename)}`,
    ...(typeof meta?.description === 'string' ? { description: meta.description } : {}),
    ...pngSize(file.data),
  };
  world.attachments.set(id, a);
  return a;
}

/**
 * Discord's attachment rules: `files[n]` are uploads; `attachments` lists what the message ends up with —
 * existing attachment ids are kept, ids equal to an upload index `n` describe that upload. On edit, an
 * attachment missing from the list is removed; without the list, uploads are appended to what is there.
 */
function resolveAttachments(world: World, channelId: string, body: Json, files: UploadedFile[], existing: AttachmentView[]): AttachmentView[] {
  const byIndex = new Map(files.map((f) => [Number(/\[(\d+)\]/.exec(f.field)?.[1] ?? -1), f]));
  if (!Array.isArray(body.attachments)) return [...existing, ...files.map((f) => upload(world, channelId, f, undefined))];
  const out: AttachmentView[] = [];
  const used = new Set<UploadedFile>();
  for (const entry of body.attachments as Json[]) {
    const kept = existing.find((a) => a.id === String(entry.id));
    const file = byIndex.get(Number(entry.id));
    if (kept) out.push(kept);
    else if (file && !used.has(file)) { used.add(file); out.push(upload(world, channelId, file, entry)); }
    else throw invalidForm('attachments', `Unknown attachment ${String(entry.id)}.`, 'ATTACHMENT_NOT_FOUND');
  }
  for (const f of files) if (!used.has(f)) out.push(upload(world, channelId, f, undefined));
  return out;
}

function snapshot(m: FakeMessage): void {
  m.history.push({ at: Date.now(), content: m.content, embeds: m.embeds, components: m.components, attachments: m.attachments });
}

function intentFor(channel: FakeChannel | undefined, guild: I, dm: I): number {
  return channel?.type === ChannelType.DM ? dm : guild;
}

export interface CreateExtra { interactionId?: string; webhookId?: string; ephemeral?: boolean; loading?: boolean; type?: MessageType }

export function createMessage(hub: Hub, channel: FakeChannel, authorId: string, body: Json, files: UploadedFile[], extra: CreateExtra = {}): FakeMessage {
  validate(body, files);
  const { world } = hub;
  const m: FakeMessage = {
    id: world.snowflake(), channelId: channel.id, guildId: channel.guildId, authorId, type: extra.type ?? MessageType.Default,
    content: typeof body.content === 'string' ? body.content : '', embeds: (body.embeds as Json[]) ?? [],
    components: (body.components as Json[]) ?? [], attachments: [],
    flags: (Number(body.flags ?? 0) & ~MessageFlags.Ephemeral) | (extra.ephemeral ? MessageFlags.Ephemeral : 0) | (extra.loading ? MessageFlags.Loading : 0),
    allowedMentions: body.allowed_mentions as Json | undefined, reactions: new Map(), interactionId: extra.interactionId,
    webhookId: extra.webhookId, ephemeral: extra.ephemeral ?? false, deleted: false, createdAt: Date.now(), history: [],
  };
  m.attachments = resolveAttachments(world, channel.id, body, files, []);
  if (!extra.loading && !m.content && !m.embeds.length && !m.attachments.length && !m.components.length) {
    throw new ApiError(400, 50006, 'Cannot send an empty message');
  }
  snapshot(m);
  world.addMessage(m);
  // Ephemeral messages exist only for the interaction's user: no gateway event, not in the channel.
  if (!m.ephemeral) hub.dispatch('MESSAGE_CREATE', withMember(hub, m), intentFor(channel, I.GuildMessages, I.DirectMessages));
  hub.changed();
  return m;
}

function withMember(hub: Hub, m: FakeMessage): Json {
  const d = hub.world.apiMessage(m, hub.botId);
  if (!m.guildId || m.webhookId) return d;
  const { user: _user, ...member } = hub.world.apiMember(m.guildId, m.authorId);
  return { ...d, member };
}

export function editMessage(hub: Hub, m: FakeMessage, body: Json, files: UploadedFile[]): FakeMessage {
  validate(body, files);
  if (typeof body.content === 'string' || body.content === null) m.content = (body.content as string | null) ?? '';
  if (Array.isArray(body.embeds)) m.embeds = body.embeds as Json[];
  if (Array.isArray(body.components)) m.components = body.components as Json[];
  if (body.allowed_mentions !== undefined) m.allowedMentions = body.allowed_mentions as Json;
  if (body.attachments !== undefined || files.length) m.attachments = resolveAttachments(hub.world, m.channelId, body, files, m.attachments);
  m.flags &= ~MessageFlags.Loading; // the "thinking…" state ends with the first edit
  m.editedAt = Date.now();
  snapshot(m);
  if (!m.ephemeral) hub.dispatch('MESSAGE_UPDATE', withMember(hub, m), intentFor(hub.world.channels.get(m.channelId), I.GuildMessages, I.DirectMessages));
  hub.changed();
  return m;
}

export function deleteMessage(hub: Hub, m: FakeMessage): void {
  m.deleted = true;
  const d = { id: m.id, channel_id: m.channelId, ...(m.guildId ? { guild_id: m.guildId } : {}) };
  if (!m.ephemeral) hub.dispatch('MESSAGE_DELETE', d, intentFor(hub.world.channels.get(m.channelId), I.GuildMessages, I.DirectMessages));
  hub.changed();
}

/** Adds or removes one user's reaction; Discord sends the event for the bot's own reactions too. */
export function setReaction(hub: Hub, m: FakeMessage, userId: string, emoji: string, on: boolean): void {
  const users = m.reactions.get(emoji) ?? new Set<string>();
  if (on === users.has(userId)) return; // Discord ignores repeats silently
  if (on) users.add(userId); else users.delete(userId);
  m.reactions.set(emoji, users);
  const d: Json = {
    user_id: userId, channel_id: m.channelId, message_id: m.id, emoji: { id: null, name: emoji }, burst: false, type: 0,
    ...(m.guildId ? { guild_id: m.guildId } : {}),
  };
  if (on) {
    d.message_author_id = m.authorId;
    d.burst_colors = [];
    if (m.guildId) d.member = hub.world.apiMember(m.guildId, userId);
  }
  const intent = intentFor(hub.world.channels.get(m.channelId), I.GuildMessageReactions, I.DirectMessageReactions);
  hub.dispatch(on ? 'MESSAGE_REACTION_ADD' : 'MESSAGE_REACTION_REMOVE', d, intent);
  hub.changed();
}

/** Thread started from a message: Discord gives the thread the message's id. */
export function startThread(hub: Hub, parent: FakeChannel, m: FakeMessage | undefined, body: Json, ownerId: string): FakeChannel {
  const { world } = hub;
  if (m?.threadId) throw new ApiError(400, 160004, 'A thread has already been created for this message');
  if (typeof body.name !== 'string' || !body.name.length || body.name.length > 100) {
    throw invalidForm('name', 'Must be between 1 and 100 in length.', 'BASE_TYPE_BAD_LENGTH');
  }
  const thread: FakeChannel = {
    id: m?.id ?? world.snowflake(), type: ChannelType.PublicThread, name: body.name, guildId: parent.guildId, parentId: parent.id,
    ownerId, starterMessageId: m?.id, createdAt: Date.now(), archiveMinutes: Number(body.auto_archive_duration ?? 1440),
  };
  world.channels.set(thread.id, thread);
  if (m) { m.threadId = thread.id; m.flags |= MessageFlags.HasThread; }
  hub.dispatch('THREAD_CREATE', { ...world.apiChannel(thread), newly_created: true }, I.Guilds);
  hub.changed();
  return thread;
}
