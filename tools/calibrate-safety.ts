/**
 * Picks per-concept safety thresholds for a model pack (method: src/engine/safety/calibrate.ts;
 * results and how to read them: README, "Safety filter"). For each concept and each channel (the
 * picture's image embedding, the prompt's text embedding), the threshold is the lowest cosine that
 * at most --fpr of the negatives exceed; the share of positives caught there (TPR) and the ROC AUC
 * are printed beside it, then the median thresholds as the model's defaults for concepts that have
 * none of their own.
 *
 * Labelled pictures come from one of:
 * - a folder (--images DIR) holding labels.json: [{ "file": "a.jpg", "concepts": ["gore"], "prompt": "…" }, …]
 *   (prompt optional: the prompt channel is calibrated from the entries that have one); concepts
 *   default to the pack's default list (models/safety/default-concepts.json);
 * - for a Shapes-world pack (the demo model), --scenes rendered random scenes, each labelled with the
 *   concepts its scene shows and prompted by its caption; concepts default to DEMO_CONCEPTS.
 *
 *   node --import tsx tools/calibrate-safety.ts [--pack models/shapes] [--images DIR] [--concepts "red star,blue background"]
 *        [--fpr 0.01] [--scenes 2000] [--seed 1] [--json]
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { ClipModel } from '../src/engine/pack/model.js';
import { calibrateConcepts, type ChannelCalibration, type ConceptCalibration, type LabelledSample } from '../src/engine/safety/calibrate.js';
import { safetyDefaults } from '../src/engine/safety/defaults.js';
import { shapesSamples } from '../src/engine/safety/shapes-labels.js';
import { COLOUR_NAMES, SHAPE_KINDS } from '../src/engine/shapes/world.js';
import { median } from '../src/engine/stats.js';

/** For the demo: what its words can name, shape by shape and colour by colour. */
export const DEMO_CONCEPTS: readonly string[] = [
  ...SHAPE_KINDS,
  ...COLOUR_NAMES.map((c) => `${c} background`),
  'red star', 'blue circle', 'green triangle', 'yellow cross', 'white ring', 'black square', 'pink star', 'orange circle',
];

const program = new Command('calibrate-safety')
  .option('--pack <dir>', 'model pack', 'models/shapes')
  .option('--images <dir>', 'a folder with labels.json (else: rendered Shapes scenes)')
  .option('--concepts <list>', 'comma-separated concepts (default: the pack\'s defaults, or the demo set)')
  .option('--fpr <rate>', 'target false-positive rate on negatives', '0.01')
  .option('--scenes <n>', 'rendered scenes (Shapes packs)', '2000')
  .option('--seed <n>', 'scene seed', '1')
  .option('--json', 'one JSON object on stdout')
  .parse();
const o = program.opts<{ pack: string; images?: string; concepts?: string; fpr: string; scenes: string; seed: string; json?: boolean }>();

async function folderSamples(dir: string): Promise<LabelledSample[]> {
  const path = join(dir, 'labels.json');
  const list = JSON.parse(await readFile(path, 'utf8')) as unknown;
  if (!Array.isArray(list)) throw new Error(`${path}: expected a list of { file, concepts, prompt? }`);
  return list.map((e: { file?: unknown; concepts?: unknown; prompt?: unknown }, i) => {
    if (typeof e.file !== 'string' || !Array.isArray(e.concepts) || !e.concepts.every((c) => typeof c === 'string')) {
      throw new Error(`${path}: entry ${i} needs "file" (a string) and "concepts" (a list of strings)`);
    }
    return { image: resolve(dir, e.file), concepts: e.concepts as string[], prompt: typeof e.prompt === 'string' ? e.prompt : undefined };
  });
}

const medianOf = (xs: number[]): number | undefined => (xs.length ? median(xs) : undefined);
const round = (x: number | undefined): number | undefined => (x === undefined ? undefined : Math.round(x * 1000) / 1000);

function cell(c: ChannelCalibration | undefined): string {
  return c ? `${c.threshold.toFixed(3)}  ${(100 * c.tpr).toFixed(0).padStart(3)} %  ${c.auc.toFixed(2)}` : '      —             ';
}

const started = performance.now();
const model = await ClipModel.open(o.pack, { device: 'cpu' });
try {
  const fpr = Number(o.fpr);
  const shapes = o.images === undefined;
  const concepts = o.concepts?.split(',').map((c) => c.trim()).filter((c) => c !== '')
    ?? (shapes ? [...DEMO_CONCEPTS] : (await safetyDefaults(model)).concepts.map((c) => c.text));
  if (!concepts.length) throw new Error('no concepts: pass --concepts');
  const samples = shapes
    ? shapesSamples(Number(o.scenes), Number(o.seed), concepts, model.config.vision.imageSize)
    : await folderSamples(o.images!);
  const rows: ConceptCalibration[] = await calibrateConcepts(model, samples, concepts, { fpr });
  const suggested = {
    image: round(medianOf(rows.flatMap((r) => (r.image ? [r.image.threshold] : [])))),
    prompt: round(medianOf(rows.flatMap((r) => (r.prompt ? [r.prompt.threshold] : [])))),
  };
  if (o.json) {
    console.log(JSON.stringify({ pack: o.pack, fpr, samples: samples.length, concepts: rows, threshold: suggested }));
  } else {
    console.log(`${o.pack}: ${samples.length} ${shapes ? `rendered scenes (seed ${o.seed})` : 'labelled pictures'}, target false-positive rate ${fpr}`);
    console.log(`${'concept'.padEnd(20)} ${'pos'.padStart(4)}   image: thr    TPR  AUC    prompt: thr   TPR  AUC`);
    for (const r of rows) console.log(`${r.text.padEnd(20)} ${String(r.image?.positives ?? 0).padStart(4)}   ${cell(r.image)}   ${cell(r.prompt)}`);
    console.log(`median thresholds (the model's default for concepts without their own): image ${suggested.image}, prompt ${suggested.prompt}`);
    console.error(`${((performance.now() - started) / 1000).toFixed(1)} s`);
  }
} finally {
  await model.close();
}
