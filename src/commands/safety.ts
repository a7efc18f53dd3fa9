/**
 * /safety: a server's safety filter (moderators). Concepts are checked against the models' own
 * tokenizers when they are added, so a word the demo model does not know is refused here, in one
 * line, and not discovered when a job runs. Manage Server is required for every subcommand, checked
 * here as well as hidden behind default_member_permissions (which server admins can change). Every
 * change is audited by the store.
 */
import { InteractionContextType, MessageFlags, PermissionFlagsBits, SlashCommandBuilder, type ChatInputCommandInteraction } from 'discord.js';
import { isModerator } from '../bot/permissions.js';
import { NO_PINGS, quoteText } from '../bot/sanitize.js';
import { conceptKey, type Concept } from '../engine/safety/concepts.js';
import { loadDefaultConcepts } from '../engine/safety/defaults.js';
import {
  checkConceptText, MAX_CONCEPTS, SAFETY_MODES, SafetyError, THRESHOLD_RANGE, type GuildSafety, type SafetyConcept, type SafetyMode,
} from '../store/safety.js';
import { addConcepts, removeConcepts, setThresholds, type ThresholdChange } from '../store/safety-edits.js';
import type { Command } from './command.js';
import { bounded, conceptText, describeSafety, MODE_TEXT, parseConcepts } from './safety-text.js';

type Ctx = Parameters<Command['execute']>[0];
type Interaction = ChatInputCommandInteraction<'cached' | 'raw'>;

const [LO, HI] = THRESHOLD_RANGE;
// Discord caps option descriptions at 100 characters.
const IMAGE_HELP = `Flag when the picture's cosine with the concept is over this (${LO}–${HI}; default: the model's)`;
const PROMPT_HELP = `Flag when the prompt's cosine with the concept is over this (${LO}–${HI}; default: the model's)`;

/** The keys of every default concept (for remove and threshold), the list for real CLIP models, and which models use it. */
async function defaults(ctx: Ctx): Promise<{ keys: Set<string>; list: readonly Concept[]; clipModels: string[] }> {
  const d = await loadDefaultConcepts();
  return {
    keys: new Set([...d.clip.concepts, ...d.closedVocabulary.concepts].map((c) => conceptKey(c.text))),
    list: d.clip.concepts,
    clipModels: ctx.engines.list().filter((p) => p.vocabulary === null).map((p) => p.name),
  };
}

/**
 * Which models cannot read each text (their tokenizer's one-line reason). A concept no model can
 * read is refused; one that only some cannot is skipped by those models' jobs, and the reply says so.
 */
async function unreadableBy(ctx: Ctx, texts: readonly string[]): Promise<Map<string, { model: string; reason: string }[]>> {
  const out = new Map<string, { model: string; reason: string }[]>();
  for (const text of texts) {
    const bad: { model: string; reason: string }[] = [];
    for (const p of ctx.engines.list()) {
      try {
        await ctx.engines.check(p.name, { prompt: text });
      } catch (e) {
        bad.push({ model: p.name, reason: (e as Error).message.split('\n')[0]! });
      }
    }
    out.set(text, bad);
  }
  return out;
}

/** The concept texts an option holds, cleaned and capped; a SafetyError names the first problem. */
function conceptsOption(raw: string): string[] {
  const texts = parseConcepts(raw);
  if (texts.length === 0) throw new SafetyError('name at least one concept, e.g. /safety add concepts: gore, graphic violence');
  if (texts.length > MAX_CONCEPTS) throw new SafetyError(`at most ${MAX_CONCEPTS} concepts, got ${texts.length.toLocaleString('en-US')}`);
  return texts.map((t, i) => checkConceptText(t, texts.length > 1 ? i + 1 : undefined));
}

function thresholdsOption(i: Interaction): ThresholdChange {
  const t: ThresholdChange = {};
  const image = i.options.getNumber('image_threshold');
  const prompt = i.options.getNumber('prompt_threshold');
  if (image !== null) t.image = image;
  if (prompt !== null) t.prompt = prompt;
  return t;
}

const find = (s: GuildSafety, text: string): SafetyConcept => s.concepts.find((c) => conceptKey(c.text) === conceptKey(text))!;

async function add(ctx: Ctx, i: Interaction): Promise<string> {
  const texts = conceptsOption(i.options.getString('concepts', true));
  const models = ctx.engines.list();
  const unreadable = await unreadableBy(ctx, texts);
  const refused = texts.find((t) => unreadable.get(t)!.length === models.length);
  if (refused !== undefined) {
    const why = unreadable.get(refused)![0]!;
    throw new SafetyError(`the model ${why.model} cannot read "${refused}": ${why.reason}`);
  }
  const t = thresholdsOption(i);
  const { after } = ctx.store.safety.update(i.guildId, i.user.id, (cur) => addConcepts(cur, texts, t));
  const lines = [`Added to the safety filter: ${bounded(texts.map((x) => conceptText(find(after, x))), 1200)}.`];
  for (const p of models) {
    const skipped = texts.filter((x) => unreadable.get(x)!.some((b) => b.model === p.name));
    if (skipped.length) lines.push(`Note: ${quoteText(p.name, 40)} cannot read ${bounded(skipped.map((x) => `"${quoteText(x, 100)}"`), 200)}: its jobs skip ${skipped.length > 1 ? 'them' : 'it'}.`);
  }
  return lines.join('\n') + offNote(after);
}

async function remove(ctx: Ctx, i: Interaction): Promise<string> {
  const texts = conceptsOption(i.options.getString('concepts', true));
  const { keys } = await defaults(ctx);
  ctx.store.safety.update(i.guildId, i.user.id, (cur) => removeConcepts(cur, texts, keys));
  return `Removed from the safety filter: ${bounded(texts.map((t) => `"${quoteText(t, 100)}"`), 1500)}.`;
}

async function threshold(ctx: Ctx, i: Interaction): Promise<string> {
  const text = checkConceptText(i.options.getString('concept', true));
  const t = thresholdsOption(i);
  if (t.image === undefined && t.prompt === undefined) throw new SafetyError('give image_threshold, prompt_threshold or both');
  const { keys } = await defaults(ctx);
  const { after } = ctx.store.safety.update(i.guildId, i.user.id, (cur) => setThresholds(cur, text, t, keys));
  return `Thresholds set: ${conceptText(find(after, text))}.${offNote(after)}`;
}

function mode(ctx: Ctx, i: Interaction): string {
  const m = i.options.getString('mode', true) as SafetyMode;
  const { before, after } = ctx.store.safety.update(i.guildId, i.user.id, () => ({ mode: m }));
  return before.mode === after.mode ? `The mode already is ${MODE_TEXT[after.mode]}.` : `Mode: ${MODE_TEXT[after.mode]}.`;
}

function reset(ctx: Ctx, i: Interaction): string {
  const after = ctx.store.safety.resetConcepts(i.guildId, i.user.id);
  return `The concept list is back to the defaults (the mode stays ${after.mode}).`;
}

const offNote = (s: GuildSafety): string => (s.mode === 'off' ? '\nThe filter is off: `/safety mode` turns it on.' : '');

const builder = new SlashCommandBuilder()
  .setName('safety')
  .setDescription("This server's safety filter: concepts the model's CLIP screens every picture for")
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => s.setName('list').setDescription('Show the mode and the concepts pictures are screened for'))
  .addSubcommand((s) => s.setName('add').setDescription('Screen pictures and prompts for more concepts')
    .addStringOption((o) => o.setName('concepts').setDescription('Concepts to flag, comma-separated, e.g. "gore, graphic violence" (each 1–100 characters)').setRequired(true).setMaxLength(4000))
    .addNumberOption((o) => o.setName('image_threshold').setDescription(IMAGE_HELP).setMinValue(LO).setMaxValue(HI))
    .addNumberOption((o) => o.setName('prompt_threshold').setDescription(PROMPT_HELP).setMinValue(LO).setMaxValue(HI)))
  .addSubcommand((s) => s.setName('remove').setDescription('Stop screening for concepts (the server\'s own or default ones)')
    .addStringOption((o) => o.setName('concepts').setDescription('Concepts to stop flagging, comma-separated, as /safety list shows them').setRequired(true).setMaxLength(4000)))
  .addSubcommand((s) => s.setName('threshold').setDescription('Change how close a picture or prompt must come to a concept to be flagged')
    .addStringOption((o) => o.setName('concept').setDescription('The concept, as /safety list shows it').setRequired(true).setMaxLength(200))
    .addNumberOption((o) => o.setName('image_threshold').setDescription(IMAGE_HELP).setMinValue(LO).setMaxValue(HI))
    .addNumberOption((o) => o.setName('prompt_threshold').setDescription(PROMPT_HELP).setMinValue(LO).setMaxValue(HI)))
  .addSubcommand((s) => s.setName('mode').setDescription('What happens to a flagged picture')
    .addStringOption((o) => o.setName('mode').setDescription('block: not posted · spoiler: posted behind a spoiler cover · off: no screening').setRequired(true)
      .addChoices(...SAFETY_MODES.map((m) => ({ name: m, value: m })))))
  .addSubcommand((s) => s.setName('reset').setDescription('Go back to the default concept list (the mode stays)'));

export const safety: Command = {
  data: builder.toJSON(),
  async execute(ctx, i) {
    // The parts are bounded already; the cut is a last guard against Discord's 2,000-character limit.
    const reply = (content: string): Promise<unknown> => i.reply({
      content: content.length > 2000 ? `${content.slice(0, 1999)}…` : content, flags: MessageFlags.Ephemeral, allowedMentions: NO_PINGS,
    });
    if (!isModerator(i.memberPermissions)) {
      await reply('The safety filter is for moderators: /safety needs the Manage Server permission.');
      return;
    }
    const sub = i.options.getSubcommand();
    try {
      if (sub === 'list') {
        const d = await defaults(ctx);
        await reply(`**Safety filter on this server**\n${describeSafety(ctx.store.safety.get(i.guildId), d.list, d.clipModels)}`);
        return;
      }
      const text = sub === 'add' ? await add(ctx, i)
        : sub === 'remove' ? await remove(ctx, i)
          : sub === 'threshold' ? await threshold(ctx, i)
            : sub === 'mode' ? mode(ctx, i)
              : reset(ctx, i);
      ctx.logger.info({ guildId: i.guildId, by: i.user.id, sub }, 'safety filter changed');
      await reply(text);
    } catch (e) {
      if (!(e instanceof SafetyError)) throw e;
      // Refusals carry the moderator's own text unquoted: quoted here, once.
      await reply(`Nothing changed: ${quoteText(e.message.replace(/^concepts: /, ''), 1800)}.`.replace(/\.\.$/, '.'));
    }
  },
};
