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
import { conceptKey } from '../engine/safety/concepts.js';
import { loadDefaultConcepts } from '../engine/safety/defaults.js';
import {
  checkConceptText, MAX_CONCEPTS, SAFETY_MODES, SafetyError, THRESHOLD_RANGE, type GuildSafety, type SafetyConcept, type SafetyMode,
} from '../store/safety.js';
import type { Command } from './command.js';
import { bounded, conceptText, describeSafety, MODE_TEXT, parseConcepts } from './safety-text.js';

type Ctx = Parameters<Command['execute']>[0];
type Interaction = ChatInputCommandInteraction<'cached' | 'raw'>;

const [LO, HI] = THRESHOLD_RANGE;
// Discord caps option descriptions at 100 characters.
const IMAGE_HELP = `Flag when the picture's cosine with the concept is over this (${LO}–${HI}; default: the model's)`;
const PROMPT_HELP = `Flag when the prompt's cosine with the concept is over this (${LO}–${HI}; default: the model's)`;

/** Every model's default concepts (the real-CLIP list; closed vocabularies have none) and which models use it. */
async function defaults(ctx: Ctx): Promise<{ texts: Set<string>; list: Awaited<ReturnType<typeof loadDefaultConcepts>>['clip']['concepts']; clipModels: string[] }> {
  const d = await loadDefaultConcepts();
  const all = [...d.clip.concepts, ...d.closedVocabulary.concepts];
  return {
    texts: new Set(all.map((c) => conceptKey(c.text))),
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
  if (texts.length === 0) throw new SafetyError('name at least one concept, e.g. `/safety add concepts:gore, graphic violence`');
  if (texts.length > MAX_CONCEPTS) throw new SafetyError(`at most ${MAX_CONCEPTS} concepts, got ${texts.length.toLocaleString('en-US')}`);
  return texts.map((t, i) => checkConceptText(t, texts.length > 1 ? i + 1 : undefined));
}

async function add(ctx: Ctx, i: Interaction): Promise<string> {
  const texts = conceptsOption(i.options.getString('concepts', true));
  const image = i.options.getNumber('image_threshold') ?? undefined;
  const prompt = i.options.getNumber('prompt_threshold') ?? undefined;
  const models = ctx.engines.list();
  const unreadable = await unreadableBy(ctx, texts);
  const refused = texts.find((t) => unreadable.get(t)!.length === models.length);
  if (refused !== undefined) {
    const why = unreadable.get(refused)![0]!;
    throw new SafetyError(`the model ${quoteText(why.model, 40)} cannot read "${quoteText(refused, 100)}": ${quoteText(why.reason, 600)}`);
  }
  const { after } = ctx.store.safety.update(i.guildId, i.user.id, (cur) => {
    const concepts = [...cur.concepts];
    for (const text of texts) {
      const at = concepts.findIndex((c) => conceptKey(c.text) === conceptKey(text));
      const old = at >= 0 ? concepts[at]! : undefined;
      // Re-adding keeps thresholds not named again.
      const next: SafetyConcept = { text, ...withThresholds(old, image, prompt) };
      if (at >= 0) concepts[at] = next;
      else concepts.push(next);
    }
    const added = new Set(texts.map(conceptKey));
    return { concepts, removed: cur.removed.filter((t) => !added.has(conceptKey(t))) };
  });
  const shown = texts.map((t) => conceptText(after.concepts.find((c) => conceptKey(c.text) === conceptKey(t))!));
  const lines = [`Added to the safety filter: ${bounded(shown, 1200)}.`];
  for (const p of models) {
    const skipped = texts.filter((t) => unreadable.get(t)!.some((b) => b.model === p.name));
    if (skipped.length) lines.push(`Note: ${quoteText(p.name, 40)} cannot read ${bounded(skipped.map((t) => `"${quoteText(t, 100)}"`), 200)}: its jobs skip ${skipped.length > 1 ? 'them' : 'it'}.`);
  }
  return lines.join('\n') + offNote(after);
}

function withThresholds(old: SafetyConcept | undefined, image: number | undefined, prompt: number | undefined): Pick<SafetyConcept, 'image' | 'prompt'> {
  const out: Pick<SafetyConcept, 'image' | 'prompt'> = {};
  const im = image ?? old?.image;
  const pr = prompt ?? old?.prompt;
  if (im !== undefined) out.image = im;
  if (pr !== undefined) out.prompt = pr;
  return out;
}

async function remove(ctx: Ctx, i: Interaction): Promise<string> {
  const texts = conceptsOption(i.options.getString('concepts', true));
  const d = await defaults(ctx);
  ctx.store.safety.update(i.guildId, i.user.id, (cur) => {
    const gone = new Set(texts.map(conceptKey));
    for (const t of texts) {
      const key = conceptKey(t);
      const own = cur.concepts.some((c) => conceptKey(c.text) === key);
      const removedAlready = cur.removed.some((r) => conceptKey(r) === key);
      if (!own && (!d.texts.has(key) || removedAlready)) throw new SafetyError(`"${quoteText(t, 100)}" is not on this server's list (see /safety list)`);
    }
    const removed = [...cur.removed];
    for (const t of texts) if (d.texts.has(conceptKey(t)) && !removed.some((r) => conceptKey(r) === conceptKey(t))) removed.push(t);
    return { concepts: cur.concepts.filter((c) => !gone.has(conceptKey(c.text))), removed };
  });
  return `Removed from the safety filter: ${bounded(texts.map((t) => `"${quoteText(t, 100)}"`), 1500)}.`;
}

async function threshold(ctx: Ctx, i: Interaction): Promise<string> {
  const text = checkConceptText(i.options.getString('concept', true));
  const image = i.options.getNumber('image_threshold') ?? undefined;
  const prompt = i.options.getNumber('prompt_threshold') ?? undefined;
  if (image === undefined && prompt === undefined) throw new SafetyError('give image_threshold, prompt_threshold or both');
  const d = await defaults(ctx);
  const { after } = ctx.store.safety.update(i.guildId, i.user.id, (cur) => {
    const key = conceptKey(text);
    const at = cur.concepts.findIndex((c) => conceptKey(c.text) === key);
    const isDefault = d.texts.has(key) && !cur.removed.some((r) => conceptKey(r) === key);
    if (at < 0 && !isDefault) throw new SafetyError(`"${quoteText(text, 100)}" is not on this server's list: add it with /safety add`);
    const concepts = [...cur.concepts];
    // A default concept gets thresholds of this server's own: an entry over the default one.
    const next: SafetyConcept = { text: at >= 0 ? concepts[at]!.text : text, ...withThresholds(at >= 0 ? concepts[at] : undefined, image, prompt) };
    if (at >= 0) concepts[at] = next;
    else concepts.push(next);
    return { concepts };
  });
  const c = after.concepts.find((x) => conceptKey(x.text) === conceptKey(text))!;
  return `Thresholds set: ${conceptText(c)}.${offNote(after)}`;
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
      await reply(`Nothing changed: ${e.message.replace(/^concepts: /, '')}.`.replace(/\.\.$/, '.'));
    }
  },
};
