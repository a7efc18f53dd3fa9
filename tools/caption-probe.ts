/**
 * How much of a Shapes model's cosine each part of a scene carries: for held-out one-shape scenes,
 * the clean cosine between the caption and the true picture, and the same picture with one thing
 * wrong (the shape in another cell, another kind, another size, the colours of shape and background
 * swapped), and a flat picture of the background colour. Synthesis climbs this cosine, so a part
 * that barely lowers it (kind, for the shipped model) is a part synthesis has no reason to draw.
 * Then the other way round: with the picture fixed, how often the true caption beats every caption
 * that differs from it in one thing only (its kind, cell, colour or size), and by what cosine margin:
 * a model that cannot pick the kind among the six kinds cannot draw it either.
 *
 *   node --import tsx tools/caption-probe.ts [--scenes 12] [--json] [PACK …]   (default: both shipped packs)
 */
import { Command } from 'commander';
import { ClipModel, cosine } from '../src/engine/pack/model.js';
import { hashName } from '../src/engine/random.js';
import { batchOf, distinctScenes } from '../src/engine/shapes/batches.js';
import { modelPixels } from '../src/engine/shapes/evaluate.js';
import { allPhrasings } from '../src/engine/shapes/captions.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';
import { COLOUR_NAMES, COLOURS, POSITIONS, SHAPE_KINDS, SIZES, type Scene } from '../src/engine/shapes/world.js';

const program = new Command('caption-probe')
  .argument('[packs...]', 'Shapes-world packs', ['models/shapes', 'models/shapes-vanilla'])
  .option('--scenes <n>', 'held-out one-shape scenes', '12')
  .option('--json', 'one JSON object per pack on stdout')
  .parse();
const o = program.opts<{ scenes: string; json?: boolean }>();

/** Each probe: the picture it scores against the true caption. */
const PROBES: ReadonlyArray<[string, (s: Scene) => Scene | 'flat']> = [
  ['true picture', (s) => s],
  ['shape in another cell', (s) => one(s, { position: POSITIONS[(POSITIONS.indexOf(s.shapes[0]!.position) + 4) % 9]! })],
  ['another kind', (s) => one(s, { kind: SHAPE_KINDS[(SHAPE_KINDS.indexOf(s.shapes[0]!.kind) + 3) % SHAPE_KINDS.length]! })],
  ['another size', (s) => one(s, { size: s.shapes[0]!.size === 'big' ? 'small' : 'big' })],
  ['colours swapped', (s) => ({ background: s.shapes[0]!.colour, shapes: [{ ...s.shapes[0]!, colour: s.background }] })],
  ['flat background', () => 'flat'],
];

/** Each choice: every scene that differs from the true one in that attribute alone (the true one included). */
type Attribute = 'kind' | 'position' | 'colour' | 'size';
const CHOICES: ReadonlyArray<[string, Attribute, (s: Scene) => readonly string[]]> = [
  ['kind', 'kind', () => SHAPE_KINDS],
  ['cell', 'position', () => POSITIONS],
  ['colour', 'colour', (s) => COLOUR_NAMES.filter((c) => c !== s.background)],
  ['size', 'size', () => SIZES],
];

export interface Choice {
  /** Share of scenes whose true caption has the highest cosine among the alternatives. */
  accuracy: number;
  /** Mean of (true caption's cosine − the best other's): below 0 when it loses. */
  margin: number;
  ways: number;
}

function one(s: Scene, change: Partial<Scene['shapes'][number]>): Scene {
  return { background: s.background, shapes: [{ ...s.shapes[0]!, ...change }] };
}

async function probe(dir: string, scenes: Scene[], captions: string[]): Promise<{ cosine: Record<string, number>; choice: Record<string, Choice> }> {
  const model = await ClipModel.open(dir, { device: 'cpu' });
  try {
    const S = model.config.vision.imageSize;
    const plane = S * S;
    const pictures = new Float32Array(scenes.length * PROBES.length * 3 * plane);
    scenes.forEach((scene, i) => PROBES.forEach(([, make], k) => {
      const at = (i * PROBES.length + k) * 3 * plane;
      const v = make(scene);
      if (v !== 'flat') renderSceneFloat(v, S, pictures, at);
      else for (let c = 0; c < 3; c++) pictures.fill(COLOURS[scene.background][c]! / 255, at + c * plane, at + (c + 1) * plane);
    }));
    const img = (await model.embedPixels(modelPixels(model, pictures))).data as Float32Array;
    const txt = (await model.embedTexts(captions)).data as Float32Array;
    const E = model.config.embedDim;
    const out: Record<string, number> = {};
    PROBES.forEach(([name], k) => {
      let sum = 0;
      for (let i = 0; i < scenes.length; i++) {
        const v = (i * PROBES.length + k) * E;
        sum += cosine(img.subarray(v, v + E), txt.subarray(i * E, (i + 1) * E));
      }
      out[name] = sum / scenes.length;
    });
    const choice: Record<string, Choice> = {};
    const truePicture = PROBES.findIndex(([p]) => p === 'true picture');
    for (const [name, key, values] of CHOICES) {
      let right = 0;
      let margin = 0;
      let ways = 0;
      for (const [i, scene] of scenes.entries()) {
        const vs = values(scene);
        ways = vs.length;
        const truth = vs.indexOf(scene.shapes[0]![key]);
        // One phrasing for all, so only the attribute's words differ between the captions.
        const t = (await model.embedTexts(vs.map((v) => allPhrasings(one(scene, { [key]: v }))[0]!))).data as Float32Array;
        const at = (i * PROBES.length + truePicture) * E;
        const cos = vs.map((_, j) => cosine(img.subarray(at, at + E), t.subarray(j * E, (j + 1) * E)));
        const best = Math.max(...cos.filter((_, j) => j !== truth));
        if (cos[truth]! > best) right++;
        margin += cos[truth]! - best;
      }
      choice[name] = { accuracy: right / scenes.length, margin: margin / scenes.length, ways };
    }
    return { cosine: out, choice };
  } finally {
    await model.close();
  }
}

async function main(): Promise<void> {
  const n = Number(o.scenes);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--scenes must be a whole number ≥ 1, got "${o.scenes}"`);
  const seed = hashName('caption-probe');
  const scenes = distinctScenes(seed, n, { count: 1 });
  const captions = batchOf(scenes, seed).captions;
  for (const dir of program.processedArgs[0] as string[]) {
    const { cosine: cos, choice } = await probe(dir, scenes, captions);
    if (o.json) process.stdout.write(`${JSON.stringify({ pack: dir, scenes: n, cosine: cos, choice })}\n`);
    else {
      process.stdout.write(`${dir}\n  cosine with the caption\n${Object.entries(cos).map(([k, v]) => `    ${k.padEnd(22)} ${v.toFixed(3)}`).join('\n')}\n`);
      process.stdout.write(`  true caption picked among those differing in one thing\n${Object.entries(choice).map(([k, c]) => `    ${`${k} (${c.ways}-way)`.padEnd(22)} ${(100 * c.accuracy).toFixed(0).padStart(3)} %  margin ${c.margin.toFixed(3)}`).join('\n')}\n`);
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`caption-probe: ${(e as Error).message}\n`);
  process.exit(1);
});
