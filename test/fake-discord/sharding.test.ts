// The fake's sharded gateway, driven by real discord.js Clients: each shard sees only its own guilds,
// and every event of a guild reaches only the shard that owns it, as on Discord.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { Client, Events, GatewayIntentBits, Partials, REST, Routes, type GatewayDispatchPayload, type Interaction } from 'discord.js';
import { shardOfGuild, startFakeDiscord, type FakeDiscord, type GuildHandle } from './index.js';
import { World } from './world.js';

const INTENTS = [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessageReactions];

describe('fake Discord with two shards', () => {
  let fake: FakeDiscord;
  /** Shard 0's guild and shard 1's guild (the first guild lands where its id says; the second on the other). */
  const owned: GuildHandle[] = [];
  const clients: Client[] = [];
  /** What each client received, per shard id: interactions (by prompt) and reactions (by emoji). */
  const seen: [string[], string[]] = [[], []];
  const readyShards: unknown[] = [];

  async function connect(shard: number): Promise<Client> {
    const client = new Client({ intents: INTENTS, partials: [Partials.Message, Partials.Reaction, Partials.User], rest: { api: fake.apiUrl }, shards: [shard], shardCount: 2 });
    client.on(Events.InteractionCreate, (i: Interaction) => {
      if (i.isChatInputCommand()) { seen[shard]!.push(i.options.getString('prompt', true)); void i.reply(`shard ${shard}`); }
    });
    client.on(Events.MessageReactionAdd, (r) => void seen[shard]!.push(r.emoji.name ?? '?'));
    client.on(Events.Raw, (p: GatewayDispatchPayload) => { if (p.t === 'READY') readyShards.push(p.d.shard); });
    const ready = once(client, Events.ClientReady);
    await client.login(fake.token);
    await ready;
    clients.push(client);
    return client;
  }

  before(async () => {
    fake = await startFakeDiscord({ shards: 2, maxConcurrency: 2 });
    const firstShard = shardOfGuild(fake.guild.id, 2);
    const second = fake.addGuild('Second Guild', { shard: [1 - firstShard, 2] });
    owned[firstShard] = fake.guilds[0]!;
    owned[1 - firstShard] = second;
  });

  after(async () => {
    for (const c of clients) await c.destroy();
    await fake.close();
    assert.deepEqual(fake.bugs, []);
  });

  test('GET /gateway/bot recommends the configured shards and concurrency', async () => {
    const rest = new REST({ api: fake.apiUrl }).setToken(fake.token);
    const body = await rest.get(Routes.gatewayBot()) as { shards: number; session_start_limit: { max_concurrency: number } };
    assert.equal(body.shards, 2);
    assert.equal(body.session_start_limit.max_concurrency, 2);
  });

  test('READY echoes each shard and lists only the guilds it owns; GUILD_CREATE likewise', async () => {
    const [c0, c1] = [await connect(0), await connect(1)];
    assert.deepEqual(readyShards, [[0, 2], [1, 2]]);
    assert.deepEqual([...c0.guilds.cache.keys()], [owned[0]!.id]);
    assert.deepEqual([...c1.guilds.cache.keys()], [owned[1]!.id]);
    assert.deepEqual(fake.guildsOfShard(1, 2), [owned[1]!.id]);
    assert.deepEqual(fake.gatewayShards, [[0, 2], [1, 2]]);
    assert.equal(c1.guilds.cache.get(owned[1]!.id)?.channels.cache.get(owned[1]!.channels.general)?.name, 'general');
  });

  test('an interaction, a reaction and a DM each reach only the shard that owns them', async () => {
    const h0 = fake.slash(fake.users.member, owned[0]!.channels.general, 'imagine', { prompt: 'in guild 0' });
    const h1 = fake.slash(fake.users.member, owned[1]!.channels.art, 'imagine', { prompt: 'in guild 1' });
    assert.equal((await h0.reply()).message?.content, 'shard 0');
    assert.equal((await h1.reply()).message?.content, 'shard 1');
    fake.react(fake.users.other, (await h1.reply()).message!, '🔁');
    // Discord sends DMs to shard 0.
    const dm = fake.slash(fake.users.member, fake.dmChannel(fake.users.member), 'imagine', { prompt: 'a DM' });
    assert.equal((await dm.reply()).message?.content, 'shard 0');
    await fake.waitFor(() => seen[1].includes('🔁'), 3000, 'the reaction on shard 1');
    assert.deepEqual(seen, [['in guild 0', 'a DM'], ['in guild 1', '🔁']]);
  });

  test('events for a shard that is away wait for it, and the other shard never sees them', async () => {
    const c1 = clients[1]!;
    await c1.destroy();
    clients.splice(1, 1);
    await fake.waitFor(() => fake.gatewayShards.length === 1, 3000, 'shard 1 gone');
    const h = fake.slash(fake.users.member, owned[1]!.channels.general, 'imagine', { prompt: 'while away' });
    const h0 = fake.slash(fake.users.member, owned[0]!.channels.general, 'imagine', { prompt: 'still here' });
    assert.equal((await h0.reply()).message?.content, 'shard 0');
    await connect(1);
    assert.equal((await h.reply()).message?.content, 'shard 1');
    assert.deepEqual(seen[0].slice(-1), ['still here']);
    assert.ok(!seen[0].includes('while away'));
    assert.deepEqual(seen[1].slice(-1), ['while away']);
  });

  test('a guild added later goes to its shard only; one Client may run both shards', async () => {
    const third = fake.addGuild('Third Guild', { shard: [1, 2] });
    await fake.waitFor(() => clients.some((c) => c.guilds.cache.has(third.id)), 3000, 'GUILD_CREATE of the new guild');
    assert.ok(clients.find((c) => c.guilds.cache.has(third.id))?.options.shards?.toString() === '1');
    const both = new Client({ intents: INTENTS, rest: { api: fake.apiUrl }, shards: [0, 1], shardCount: 2 });
    clients.push(both);
    const ready = once(both, Events.ClientReady);
    await both.login(fake.token);
    await ready;
    assert.deepEqual([...both.guilds.cache.keys()].sort(), fake.guilds.map((g) => g.id).sort());
  });
});

test('ids stay unique and increasing when a guild id is picked for a shard in the same millisecond as others', () => {
  const world = new World('http://127.0.0.1');
  const ids: bigint[] = [];
  // Many ids per millisecond, each followed by a guild for shard 0 or 1 of 2: a reset to the start of a
  // millisecond would repeat one issued just before.
  for (let i = 0; i < 2000; i++) {
    ids.push(BigInt(world.snowflake()), BigInt(world.snowflake()));
    const shard = i % 2;
    const g = world.snowflakeOnShard(shard, 2);
    assert.equal(shardOfGuild(g, 2), shard);
    ids.push(BigInt(g));
  }
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i]! > ids[i - 1]!, `id ${i} ${ids[i]} after ${ids[i - 1]}`);
});
