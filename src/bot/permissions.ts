/** Who counts as a moderator: Manage Server, the same permission /limits set requires. */
import { PermissionFlagsBits, type Client, type PermissionsBitField } from 'discord.js';

export function isModerator(perms: Readonly<PermissionsBitField> | null | undefined): boolean {
  return perms?.has(PermissionFlagsBits.ManageGuild) ?? false;
}

/** A member's permissions looked up by id (reactions carry no permissions of their own). */
export async function memberIsModerator(client: Client, guildId: string, userId: string): Promise<boolean> {
  const guild = client.guilds.cache.get(guildId) ?? (await client.guilds.fetch(guildId));
  const member = await guild.members.fetch(userId);
  return isModerator(member.permissions);
}
