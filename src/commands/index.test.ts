import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApplicationCommandOptionType, InteractionContextType, PermissionFlagsBits } from 'discord.js';
import { commandDefinitions, COMMANDS } from './index.js';
import { parseChannelList, parseWordList } from './limits.js';
import { parseConcepts } from './safety-text.js';
import { THRESHOLD_RANGE } from '../store/safety.js';

test('six guild-only commands, /limits and /safety behind Manage Server by default', () => {
  const defs = commandDefinitions();
  assert.deepEqual(defs.map((d) => d.name).sort(), ['cancel', 'imagine', 'info', 'limits', 'queue', 'safety']);
  for (const d of defs) assert.deepEqual(d.contexts, [InteractionContextType.Guild], `${d.name} is guild-only`);
  for (const name of ['limits', 'safety']) {
    assert.equal(defs.find((d) => d.name === name)!.default_member_permissions, String(PermissionFlagsBits.ManageGuild), name);
  }
  assert.equal(defs.find((d) => d.name === 'imagine')!.default_member_permissions ?? null, null);
  assert.equal(COMMANDS.size, 6);
});

test('/imagine options: prompt required, ranges set where Discord can enforce them', () => {
  const opts = COMMANDS.get('imagine')!.data.options!;
  assert.deepEqual(opts.map((o) => o.name).filter((n) => n !== 'image' && n !== 'count'), ['prompt', 'negative', 'steps', 'size', 'seed', 'model']);
  assert.equal((opts.find((o) => o.name === 'model') as { autocomplete?: boolean }).autocomplete, true, 'model names are suggested');
  assert.equal(opts[0]!.required, true);
  const steps = opts.find((o) => o.name === 'steps') as { type: number; min_value: number; max_value: number };
  assert.equal(steps.type, ApplicationCommandOptionType.Integer);
  assert.deepEqual([steps.min_value, steps.max_value], [1, 1000]);
});

test('/limits set options carry the store ranges', () => {
  const set = (COMMANDS.get('limits')!.data.options! as { name: string; options?: { name: string; min_value?: number; max_value?: number }[] }[])
    .find((o) => o.name === 'set')!;
  const names = set.options!.map((o) => o.name);
  assert.deepEqual(names, ['queued_per_user', 'jobs_per_day', 'max_steps', 'max_size', 'cooldown_seconds', 'blocked_words', 'allowed_channels', 'default_model', 'allowed_models']);
  const q = set.options!.find((o) => o.name === 'queued_per_user')!;
  assert.deepEqual([q.min_value, q.max_value], [1, 50]);
});

test('word and channel lists', () => {
  assert.deepEqual(parseWordList(' red , blue sky,, '), ['red', 'blue sky']);
  assert.deepEqual(parseWordList('None'), []);
  assert.deepEqual(parseChannelList('<#100000000000000001> 100000000000000002,<#100000000000000003>'),
    ['100000000000000001', '100000000000000002', '100000000000000003']);
  assert.deepEqual(parseChannelList('all'), []);
  assert.equal(parseChannelList('#general'), undefined);
});

test('/safety: its subcommands, help text on every option, thresholds in the store\'s range', () => {
  type Opt = { name: string; description: string; type: number; min_value?: number; max_value?: number; choices?: { value: string }[]; options?: Opt[] };
  const subs = COMMANDS.get('safety')!.data.options! as Opt[];
  assert.deepEqual(subs.map((s) => s.name), ['list', 'add', 'remove', 'threshold', 'mode', 'reset']);
  for (const s of subs) {
    assert.ok(s.description.length > 10, s.name);
    for (const o of s.options ?? []) {
      assert.ok(o.description.length > 10 && o.description.length <= 100, `${s.name} ${o.name}`);
      if (o.type === ApplicationCommandOptionType.Number) assert.deepEqual([o.min_value, o.max_value], [...THRESHOLD_RANGE], `${s.name} ${o.name}`);
    }
  }
  assert.deepEqual(subs.find((s) => s.name === 'mode')!.options![0]!.choices!.map((c) => c.value), ['block', 'spoiler', 'off']);
});

test('concept lists: blank pieces between commas are dropped', () => {
  assert.deepEqual(parseConcepts(' gore , graphic  violence,, '), ['gore', 'graphic  violence']);
  assert.deepEqual(parseConcepts(' , ,'), []);
});
