/**
 * Sending and editing by channel id, through the bot token only: after a restart nothing is cached,
 * and the interaction token that made a reply expires after 15 minutes, so jobs never use it.
 */
import type { Client, Message, MessageCreateOptions, MessageEditOptions, SendableChannels } from 'discord.js';
import { NO_PINGS } from './sanitize.js';

export async function sendableChannel(client: Client, channelId: string): Promise<SendableChannels> {
  const channel = await client.channels.fetch(channelId);
  if (!channel?.isSendable()) throw new Error(`channel ${channelId} cannot take messages`);
  return channel;
}

export async function sendTo(client: Client, channelId: string, payload: MessageCreateOptions): Promise<Message> {
  const channel = await sendableChannel(client, channelId);
  return channel.send({ ...payload, allowedMentions: NO_PINGS });
}

export async function editIn(client: Client, channelId: string, messageId: string, payload: MessageEditOptions): Promise<void> {
  const channel = await sendableChannel(client, channelId);
  await channel.messages.edit(messageId, { ...payload, allowedMentions: NO_PINGS });
}

export async function deleteIn(client: Client, channelId: string, messageId: string): Promise<void> {
  const channel = await sendableChannel(client, channelId);
  await channel.messages.delete(messageId);
}
