/**
 * `npm run eval`: the demo model's figures. Zero-shot caption retrieval on held-out pictures, then
 * syntheses of held-out prompts with the robust and the vanilla model (same seeds), each judged
 * against the world's ground truth (colour + position + shape), and a contact sheet: each prompt's
 * robust result beside its vanilla twin. The paper's claim in miniature: only the robust
 * model's gradients draw what the prompt names.
 *
 * With --from-truth each synthesis starts from the prompt's own rendered picture instead of random
 * noise: how much of a perfect answer the objective keeps (for a model whose optimum is the true
 * picture, all of it).
 *
 * With --pack NAME=DIR (repeatable) any number of packs are compared instead of the two defaults
 * (the model card's table: vanilla, adversarial only, aligned only, aligned + adversarial), and
 * --pgd-eps adds caption retrieval under a PGD-10 attack in an L2 ball of that radius.
 *
 *   npm run eval -- [--robust DIR] [--vanilla DIR] [--pack NAME=DIR …] [--prompts N] [--two-shape N] [--steps N]
 *                   [--recipe key=value,…] [--pgd-eps X] [--from-truth] [--out FILE] [--json]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { contactSheet, type Tile } from '../src/engine/contact-sheet.js';
import { ClipModel } from '../src/engine/pack/model.js';
import { robustAccuracy } from '../src/engine/shapes/robust-accuracy.js';
import { heldOutScenes, judgeSyntheses, kindBreakdown, partRates, retrievalAccuracy, successRate, writeTruePictures, type JudgedSynthesis } from '../src/engine/shapes/evaluate.js';

const o = new Command('eval-shapes')
  .option('--robust <dir>', 'the robust pack', 'models/shapes')
  .option('--vanilla <dir>', 'its vanilla twin', 'models/shapes-vanilla')
  .option('--pack <name=dir>', 'a pack to compare, instead of --robust and --vanilla (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
  .option('--recipe <keys>', 'synthesis recipe keys replacing the packs\' for this run, e.g. lr=0.03,steps=80')
  .option('--pgd-eps <x>', 'also measure caption retrieval under PGD-10 in an L2 ball of this radius (0: skip)', '0')
  .option('--pgd-pictures <n>', 'held-out pictures for that measurement', '100')
  .option('--tune', 'use a tuning set of prompts instead of the held-out ones (for choosing recipes without looking at the test set)')
  .option('--prompts <n>', 'held-out one-shape prompts', '20')
  .option('--two-shape <n>', 'held-out two-shape prompts', '10')
  .option('--retrieval <n>', 'held-out pictures for caption retrieval (0: skip it)', '500')
  .option('--steps <n>', 'synthesis steps (default: the pack recipe)')
  .option('--from-truth', 'start each synthesis from the prompt\'s own rendered picture instead of noise')
  .option('--out <file>', 'contact sheet', 'out/eval.png')
  .option('--json', 'one JSON object on stdout')
  .parse()
  .opts<{
    robust: string; vanilla: string; pack: string[]; recipe?: string; pgdEps: string; pgdPictures: string; tune?: boolean;
    prompts: string; twoShape: string; retrieval: string; steps?: string; fromTruth?: boolean; out: string; json?: boolean;
  }>();

const count = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number ≥ 0, got "${v}"`);
  return n;
};

/** The packs to compare, by name: --pack NAME=DIR, or the robust pack and its vanilla twin. */
function packs(): Array<[string, string]> {
  if (o.pack.length === 0) return [['robust', o.robust], ['vanilla', o.vanilla]];
  return o.pack.map((p) => {
    const at = p.indexOf('=');
    if (at < 1 || at === p.length - 1) throw new Error(`--pack takes NAME=DIR, got "${p}"`);
    return [p.slice(0, at), p.slice(at + 1)];
  });
}

/** "lr=0.03,steps=80" as recipe keys (the engine checks the names and ranges). */
function recipeOverrides(): Record<string, number> | undefined {
  if (o.recipe === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const part of o.recipe.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [k, v] = part.split('=');
    const n = Number(v);
    if (!k || v === undefined || !Number.isFinite(n)) throw new Error(`--recipe takes key=number pairs, got "${part}"`);
    out[k] = n;
  }
  return out;
}

interface ModelReport {
  pack: string;
  /** Undefined when skipped (--retrieval 0). */
  retrieval?: number;
  success: number;
  successOneShape: number;
  successTwoShapes: number;
  parts: ReturnType<typeof partRates>;
  /** Per named kind (one-shape and two-shape prompts together): named, judged right, read as what. */
  kinds: ReturnType<typeof kindBreakdown>;
  /** Caption retrieval among --pgd-pictures held-out pictures, clean and under PGD-10 (with --pgd-eps). */
  pgd?: { eps: number; clean: number; attacked: number };
  /** Mean cosine of each result (no augmentation) to its prompt. */
  meanScore: number;
  seconds: number;
}

async function main(): Promise<void> {
  const tag = o.tune ? 'tune-prompts' : 'eval-prompts';
  const one = heldOutScenes(count('prompts', o.prompts), { count: 1 }, tag);
  const two = heldOutScenes(count('two-shape', o.twoShape), { count: 2 }, tag);
  const prompts = [...one.prompts, ...two.prompts];
  const truths = o.fromTruth ? await mkdtemp(join(tmpdir(), 'clipag-eval-')) : undefined;
  try {
    await run(prompts, one.prompts.length, two.prompts.length, truths ? await writeTruePictures([...one.scenes, ...two.scenes], truths) : undefined);
  } finally {
    if (truths) await rm(truths, { recursive: true, force: true });
  }
}

async function run(prompts: string[], oneShape: number, twoShapes: number, inits?: string[]): Promise<void> {
  const steps = o.steps === undefined ? undefined : count('steps', o.steps);
  const pictures = count('retrieval', o.retrieval);
  const pgdEps = Number(o.pgdEps);
  if (!(pgdEps >= 0)) throw new Error(`--pgd-eps must be a number ≥ 0, got "${o.pgdEps}"`);
  const pgdPictures = count('pgd-pictures', o.pgdPictures);
  const recipe = recipeOverrides();
  const list = packs();
  const models: Record<string, ModelReport> = {};
  const results: Record<string, JudgedSynthesis[]> = {};
  for (const [name, dir] of list) {
    const model = await ClipModel.open(dir, { device: 'cpu' });
    try {
      const retrieval = pictures === 0 ? undefined : await retrievalAccuracy(model, pictures);
      const pgd = pgdEps > 0 ? { eps: pgdEps, ...(await robustAccuracy(dir, model.config, { eps: pgdEps, pictures: pgdPictures })) } : undefined;
      const started = Date.now();
      const rs = await judgeSyntheses(model, prompts, {
        ...(steps !== undefined ? { steps } : {}),
        ...(inits ? { inits } : {}),
        ...(recipe ? { recipe } : {}),
        onResult: (r, i) => process.stderr.write(`${name} ${i + 1}/${prompts.length} ${r.verdict.ok ? 'ok  ' : 'FAIL'} ${r.prompt}${r.verdict.ok ? '' : ` (${r.verdict.reasons.join('; ')})`}\n`),
      });
      results[name] = rs;
      models[name] = {
        pack: dir,
        ...(retrieval === undefined ? {} : { retrieval }),
        ...(pgd ? { pgd } : {}),
        success: successRate(rs),
        successOneShape: successRate(rs.slice(0, oneShape)),
        successTwoShapes: successRate(rs.slice(oneShape)),
        parts: partRates(rs),
        kinds: kindBreakdown(rs),
        meanScore: rs.reduce((a, r) => a + r.score, 0) / Math.max(1, rs.length),
        seconds: (Date.now() - started) / 1000,
      };
    } finally {
      await model.close();
    }
  }
  // Four prompts per row (fewer with more packs), each as one tile per pack, the first with the prompt.
  const perRow = Math.max(1, Math.floor(8 / list.length));
  const rows: Tile[][] = [];
  prompts.forEach((p, i) => {
    if (i % perRow === 0) rows.push([]);
    list.forEach(([name], k) => {
      const r = results[name]![i]!;
      rows.at(-1)!.push({ image: r.image, caption: `${name} ${r.verdict.ok ? 'ok' : 'wrong'}${k === 0 ? `: ${p}` : ''}` });
    });
  });
  await mkdir(dirname(o.out), { recursive: true });
  await writeFile(o.out, await contactSheet(rows, { lines: 5 }));
  if (o.json) process.stdout.write(`${JSON.stringify({ ...models, sheet: o.out, start: inits ? 'truth' : 'noise', prompts: { oneShape, twoShapes } })}\n`);
  else {
    const pc = (x: number): string => `${(100 * x).toFixed(0)} %`;
    if (inits) process.stderr.write('each synthesis started from its prompt\'s true picture\n');
    for (const [name, r] of Object.entries(models)) {
      const retrieval = r.retrieval === undefined ? 'retrieval not measured' : `retrieval ${(100 * r.retrieval).toFixed(1)} %`;
      const pgd = r.pgd ? `, under PGD-10 (L2 ${r.pgd.eps}) ${pc(r.pgd.attacked)} of ${pc(r.pgd.clean)}` : '';
      process.stderr.write(`${name}: ${retrieval}${pgd}, syntheses judged correct ${pc(r.success)} `
        + `(one shape ${oneShape ? pc(r.successOneShape) : 'none asked'}, two shapes ${twoShapes ? pc(r.successTwoShapes) : 'none asked'}); background right ${pc(r.parts.background)}, `
        + `colours in place ${pc(r.parts.colourInPlace)}, kinds right ${pc(r.parts.shape)}, mean clean CLIP score ${r.meanScore.toFixed(3)}\n`);
      const kinds = Object.entries(r.kinds).map(([k, v]) => {
        const wrong = Object.entries(v.readAs).sort((a, b) => b[1] - a[1]).map(([as, n]) => `${as} ${n}`).join(', ');
        return `${k} ${v.right}/${v.named}${wrong ? ` (${wrong})` : ''}`;
      });
      process.stderr.write(`${name}: shapes right by kind: ${kinds.join('; ')}\n`);
    }
    process.stderr.write(`contact sheet: ${o.out}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`eval: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
