import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkText, cleanText, findBlockedWord, MAX_PROMPT_CHARS, NO_PINGS, quoteText } from './sanitize.js';

const ok = (raw: string, blocked: string[] = []): string => {
  const r = checkText(raw, 'prompt', blocked);
  assert.ok(r.ok, `expected ${JSON.stringify(raw)} to pass, got ${r.ok ? '' : r.message}`);
  return r.text;
};
const refused = (raw: string, blocked: string[] = []): string => {
  const r = checkText(raw, 'prompt', blocked);
  assert.ok(!r.ok, `expected ${JSON.stringify(raw)} to be refused`);
  assert.ok(!r.message.includes('\n'), 'one line');
  return r.message;
};

test('NO_PINGS parses no mention kinds', () => {
  assert.deepEqual(NO_PINGS, { parse: [] });
});

test('zero-width and bidi controls are stripped, whitespace collapsed', () => {
  assert.equal(cleanText('a\u200B red\u202E  circle\u2066\n on\tblue\uFEFF sky\u200D'), 'a red circle on blue sky');
  assert.equal(ok('  red\u200Bcircle  '), 'redcircle');
});

test('mentions of any kind are refused with one line', () => {
  for (const p of ['@everyone red circle', 'red @here', 'a <@123456789012345678> circle', 'a <@!123456789012345678>',
    'role <@&123456789012345678>', 'channel <#123456789012345678>', '@\u200Beveryone sky']) {
    assert.match(refused(p), /mentions/);
  }
  ok('email me at someone@example.com'); // not a mention
});

test('over-long prompts name their length and the limit', () => {
  const msg = refused('a'.repeat(4000));
  assert.match(msg, /4,000 characters; the limit is 500/);
  ok('a'.repeat(MAX_PROMPT_CHARS));
});

test('emoji-only and empty prompts are refused', () => {
  assert.match(refused('🔥🌈✨'), /emoji or symbols only/);
  assert.match(refused('!!! ***'), /no words/);
  assert.match(refused('\u200B \u202E'), /empty/);
  ok('🔥 red circle');
});

test('blocked words match whole words, any case, through invisible characters', () => {
  assert.match(refused('a RED circle', ['red']), /contains "red", which this server blocks/);
  assert.match(refused('a r\u200Bed circle', ['red']), /blocks/);
  ok('a reddish circle', ['red']);
  assert.equal(findBlockedWord('a blue sky at dusk', ['blue sky']), 'blue sky');
  assert.equal(findBlockedWord('a blue and sky', ['blue sky']), undefined);
});

test('the field name appears in the message', () => {
  const r = checkText('@here', 'negative prompt', []);
  assert.ok(!r.ok && r.message.startsWith('The negative prompt'));
});

test('quoteText escapes markdown, breaks mention syntax and truncates', () => {
  assert.equal(quoteText('**bold** _it_ `code`'), '\\*\\*bold\\*\\* \\_it\\_ \\`code\\`');
  assert.ok(!quoteText('@everyone').includes('@everyone'));
  assert.ok(!quoteText('<@123>').includes('<@1'));
  assert.ok(!quoteText('<#123>').includes('<#1'));
  const long = quoteText('x'.repeat(300), 50);
  assert.equal(long.length, 50);
  assert.ok(long.endsWith('…'));
});
