/**
 * Does a Shapes pack's score mind what a caption leaves out? For captions of one-shape scenes, the
 * cosine of the caption with its own picture against the same picture with a shape added (a copy in
 * another cell, or another shape), and with the shape moved (a near miss training does show it);
 * for two-shape captions, against the picture with one of its shapes left out. Synthesis climbs
 * this cosine, so a picture with extra shapes that scores as high as the truth is a maximum it can
 * stop at: blobs of the named colour in several cells, or one shape of two.
 *
 *   node --import tsx tools/extra-shape.ts [--scenes 200] PACK...
 */
import { parseArgs } from 'node:util';
import { ClipModel, cosine } from '../src/engine/pack/model.js';
import { rng } from '../src/engine/random.js';
import { batchOf, variantOf } from '../src/engine/shapes/batches.js';
import { heldOutScenes, modelPixels } from '../src/engine/shapes/evaluate.js';
import { COLOUR_NAMES, POSITIONS, SHAPE_KINDS, SIZES, type Scene, type ShapeSpec } from '../src/engine/shapes/world.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { scenes: { type: 'string', default: '200' } } });
const N = Number(values.scenes);
if (!Number.isInteger(N) || N < 1 || !positionals.length) {
  process.stderr.write('usage: extra-shape.ts [--scenes N] PACK...\n');
  process.exit(2);
}

const rand = rng(4242);
const pick = <T>(xs: readonly T[]): T => xs[Math.min(xs.length - 1, Math.floor(rand() * xs.length))]!;
const freeCell = (s: Scene) => pick(POSITIONS.filter((p) => !s.shapes.some((x) => x.position === p)));
const withShape = (s: Scene, shape: ShapeSpec): Scene => ({ background: s.background, shapes: [...s.shapes, shape] });

// Another tag than the eval's prompts, so these are not the pictures the judged figures use.
const one = heldOutScenes(N, { count: 1 }, 'extra-shape');
const two = heldOutScenes(N, { count: 2 }, 'extra-shape');
const variants: Record<string, Scene[]> = {
  'one: truth': one.scenes,
  'one: moved (near miss)': one.scenes.map((s) => variantOf(s, 'position', rand)!),
  'one: + copy in another cell': one.scenes.map((s) => withShape(s, { ...s.shapes[0]!, position: freeCell(s) })),
  'one: + another shape': one.scenes.map((s) => withShape(s, {
    kind: pick(SHAPE_KINDS), colour: pick(COLOUR_NAMES.filter((c) => c !== s.background)), size: pick(SIZES), position: freeCell(s),
  })),
  'two: truth': two.scenes,
  'two: first shape only': two.scenes.map((s) => ({ background: s.background, shapes: [s.shapes[0]!] })),
  'two: second shape only': two.scenes.map((s) => ({ background: s.background, shapes: [s.shapes[1]!] })),
};

for (const dir of positionals) {
  const model = await ClipModel.open(dir, { device: 'cpu' });
  const S = model.config.vision.imageSize;
  const E = model.config.embedDim;
  const cosines = async (scenes: Scene[], captions: string[]): Promise<number[]> => {
    const img = (await model.embedPixels(modelPixels(model, batchOf(scenes, 1, S).pixels))).data as Float32Array;
    const txt = (await model.embedTexts(captions)).data as Float32Array;
    return scenes.map((_, i) => cosine(img.subarray(i * E, (i + 1) * E), txt.subarray(i * E, (i + 1) * E)));
  };
  const rows: Record<string, { mean: number; atLeastTruth: number }> = {};
  const truth: Record<'one' | 'two', number[]> = { one: [], two: [] };
  for (const [name, scenes] of Object.entries(variants)) {
    const which = name.startsWith('one') ? 'one' : 'two';
    const c = await cosines(scenes, which === 'one' ? one.prompts : two.prompts);
    if (name.endsWith('truth')) truth[which] = c;
    rows[name] = {
      mean: Number((c.reduce((a, b) => a + b, 0) / c.length).toFixed(4)),
      atLeastTruth: Number((c.filter((v, i) => v >= truth[which][i]!).length / c.length).toFixed(3)),
    };
  }
  process.stdout.write(`${JSON.stringify({ pack: dir, scenes: N, rows })}\n`);
}
