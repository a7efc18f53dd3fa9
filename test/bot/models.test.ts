/**
 * Choosing the model end to end: the bot's default pack and a second one in MODELS_DIR, the real
 * engine on both. Autocomplete lists them, /imagine model: runs on the named one, servers set their
 * default and allowed models in /limits, /info lists them, 🔁 keeps the model, and a second pack
 * loading while a job of the first runs does not hold up that job's progress edits.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { demoPackDir } from '../helpers/demo-pack.js';
import { assertNoPingsSent, harness, jobIdOf, resultIn, type Harness } from './harness.js';

const INTERVAL_MS = 400;
let h: Harness;
let modelsDir: string;

before(async () => {
  modelsDir = await mkdtemp(join(tmpdir(), 'clipag-models-'));
  // A second pack: the demo's weights under another name (its compiled graphs come along: same key).
  const second = join(modelsDir, 'second');
  await cp(await demoPackDir(), second, { recursive: true });
  const manifest = JSON.parse(await readFile(join(second, 'clipag.json'), 'utf8')) as Record<string, unknown>;
  await writeFile(join(second, 'clipag.json'), JSON.stringify({ ...manifest, name: 'shapes-b', description: 'The second demo pack' }));
  h = await harness({ concurrency: 2, config: { modelsDir }, bot: { progressIntervalMs: INTERVAL_MS, views: 2 } });
  await h.fake.slash(h.fake.users.moderator, h.fake.channels.general, 'limits set', { cooldown_seconds: 0, queued_per_user: 10 }).reply();
});
after(async () => {
  await h?.close();
  await rm(modelsDir, { recursive: true, force: true });
});

/** /imagine by the member; resolves with the job id and its thread once acknowledged. */
async function imagine(options: Record<string, string | number>): Promise<{ jobId: string; threadId: string }> {
  const { fake } = h;
  const cmd = fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'a red circle on blue', ...options });
  const reply = await cmd.reply();
  assert.equal(reply.ephemeral, false, `refused: ${JSON.stringify(reply.data)}`);
  const ack = await fake.waitFor(() => { const m = cmd.original(); return m?.content ? m : undefined; }, 10_000, 'the acknowledgement');
  const thread = await fake.waitFor(() => fake.threads(fake.channels.general).find((t) => t.starterMessageId === ack.id), 10_000, 'its thread');
  return { jobId: jobIdOf(ack), threadId: thread.id };
}

test('autocomplete offers the models this server allows, with what they are', async () => {
  const { fake } = h;
  const r = await fake.autocomplete(fake.users.member, fake.channels.general, 'imagine', { prompt: 'a red', model: '' }, 'model').reply();
  assert.equal(r.type, 8);
  const choices = (r.data as { choices: { name: string; value: string }[] }).choices;
  assert.deepEqual(choices.map((c) => c.value), [h.bot.context.engines.defaultModel, 'shapes-b']);
  assert.match(choices[1]!.name, /^shapes-b — The second demo pack · knows: /);
  const typed = await fake.autocomplete(fake.users.member, fake.channels.general, 'imagine', { prompt: 'a red', model: 'SHAPES-' }, 'model').reply();
  assert.deepEqual((typed.data as { choices: { value: string }[] }).choices.map((c) => c.value), ['shapes-b']);
});

test('loading a second pack while a job of the first runs does not hold up its progress edits by more than one interval', async () => {
  const { fake } = h;
  const engines = h.bot.context.engines;
  assert.deepEqual(engines.warm().map((w) => w.model), [engines.defaultModel], 'only the default is loaded at start');
  const first = await imagine({ model: engines.defaultModel, steps: 200, size: 192 });
  const progress = await fake.waitFor(() => fake.messages(first.threadId).find((m) => m.content.startsWith('Step') && m.history.length >= 4), 20_000, 'progress under way');
  const loadFrom = Date.now();
  // When the second pack became warm: the load is the window (its job then shares the CPU, which
  // slows the first job's steps for reasons that have nothing to do with loading).
  let loadedAt = 0;
  const poll = setInterval(() => { if (!loadedAt && engines.warm().some((w) => w.model === 'shapes-b')) loadedAt = Date.now(); }, 5);
  const second = await imagine({ model: 'shapes-b', steps: 4 });
  await fake.waitFor(() => resultIn(fake, second.threadId, second.jobId), 30_000, 'the second pack\'s result');
  clearInterval(poll);
  h.bot.context.manager.cancel(first.jobId, fake.users.member.id);
  assert.ok(loadedAt > 0, 'the second pack was loaded');
  const at = (fake.message(progress.id)?.history ?? []).map((v) => v.at);
  const gaps = at.slice(1).map((t, i) => ({ from: at[i]!, to: t, ms: t - at[i]! }));
  // The pace before the load (steps, PNG encoding, edits on a busy machine) is the baseline.
  const before = gaps.filter((g) => g.to < loadFrom).map((g) => g.ms);
  const during = gaps.filter((g) => g.to >= loadFrom && g.from <= loadedAt).map((g) => g.ms);
  assert.ok(before.length >= 2 && during.length >= 1, `edits before: ${before.length}, during the load: ${during.length}`);
  const worst = Math.max(...during);
  assert.ok(worst <= Math.max(...before) + INTERVAL_MS,
    `the longest gap between edits while the second pack loaded (${loadedAt - loadFrom} ms) was ${worst} ms; before it, ${Math.max(...before)} ms (interval ${INTERVAL_MS} ms)`);
});

test('/imagine model: runs on the named pack; 🔁 keeps it; /info shows it loaded', async () => {
  const { fake } = h;
  const store = h.bot.context.store;
  const { jobId, threadId } = await imagine({ model: 'Shapes-B', steps: 8 });
  assert.equal(store.jobs.get(jobId)!.request.model, 'shapes-b', 'stored as the pack spells it');
  const result = await fake.waitFor(() => resultIn(fake, threadId, jobId), 30_000, 'the result');
  assert.match(result.content, /model `shapes-b` · seed \d+/);
  fake.react(fake.users.member, result, '🔁');
  const again = await fake.waitFor(() => fake.messages(threadId).find((m) => /job `[a-z0-9]+`/.test(m.content) && !m.content.includes(jobId)), 10_000, 'the rerun');
  assert.equal(store.jobs.get(jobIdOf(again))!.request.model, 'shapes-b');
  await fake.waitFor(() => resultIn(fake, threadId, jobIdOf(again)), 30_000, 'the rerun result');
  const info = await fake.slash(fake.users.member, fake.channels.general, 'info').reply();
  const text = String((info.data as { content: string }).content);
  assert.match(text, /shapes-b — The second demo pack.*loaded on cpu/);
  assert.match(text, /default here/);
});

test('unknown and disallowed models get one ephemeral line; a server default applies when none is named', async () => {
  const { fake } = h;
  const say = async (options: Record<string, string>): Promise<string> => {
    const r = await fake.slash(fake.users.member, fake.channels.general, 'imagine', { prompt: 'a red circle on blue', ...options }).reply();
    assert.equal(r.ephemeral, true);
    return String((r.data as { content: string }).content);
  };
  assert.match(await say({ model: 'dall-e' }), /^There is no model called "dall-e"\. Models here: `.+`, `shapes-b`\.$/);
  const mod = fake.users.moderator;
  const bad = await fake.slash(mod, fake.channels.general, 'limits set', { default_model: 'nope' }).reply();
  assert.match(String((bad.data as { content: string }).content), /Nothing changed: default_model: there is no model called "nope"/);
  await fake.slash(mod, fake.channels.general, 'limits set', { allowed_models: 'shapes-b', default_model: 'shapes-b' }).reply();
  assert.match(await say({ model: h.bot.context.engines.defaultModel }), /^This server does not allow `.+`\. Allowed: `shapes-b`\.$/);
  const { jobId } = await imagine({ steps: 4 });
  assert.equal(h.bot.context.store.jobs.get(jobId)!.request.model, 'shapes-b', 'the server default');
  const shown = await fake.slash(mod, fake.channels.general, 'limits show').reply();
  assert.match(String((shown.data as { content: string }).content), /default_model:\*\* `shapes-b`[\s\S]*allowed_models:\*\* `shapes-b`/);
  const audit = h.bot.context.store.audit.list(fake.guild.id).map((e) => Object.keys(e.change)).flat();
  assert.ok(audit.includes('defaultModel') && audit.includes('allowedModels'), 'audited');
  await fake.slash(mod, fake.channels.general, 'limits set', { allowed_models: 'all', default_model: 'bot' }).reply();
  assert.ok(assertNoPingsSent(fake) > 0);
});

