/**
 * The Shapes world as raw arrays for tools/torch/probe_align.py, the PyTorch reproduction of issue
 * 17's probe: the same near-miss batches, alignment items and held-out filter our trainer uses, and
 * our judge for the probe's pictures, so its figures and ours differ only in model and trainer.
 *
 *   train --from K --steps N [--batch 128] [--align 32] [--seed 1] [--bare share]
 *     writes, for each step s = K … K+N−1, little-endian: batch pixels f32 [B,3,64,64], batch ids
 *     i32 [B,32], then (when --align > 0) item pixels f32 [A,3,64,64], item ids i32 [A,32] and
 *     item directions f32 [A,3,64,64] (render(t) − x). Every scene `npm run eval` uses is left out.
 *     --bare: share of items started from the target with shapes missing (align-items.ts).
 *   prompts [--tune] [--one 20] [--two 10] --out DIR
 *     DIR/prompts.json (prompts, ids), DIR/starts.f32 [N,3,64,64] (synthesis's smooth-noise start)
 *     DIR/truth.f32 (the prompts' own scenes, to check the judge with), DIR/bare.f32 (their flat
 *     backgrounds) and DIR/palette.json (the world's colours, for flat starts).
 *   judge --dir DIR [--sheet PNG]
 *     judges DIR/images.f32 [N,3,64,64] against DIR/prompts.json; prints one JSON line of rates.
 */
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pixelsToRgb } from '../src/engine/clip/image.js';
import { contactSheet } from '../src/engine/contact-sheet.js';
import { Tensor } from '../src/engine/onnx/tensor.js';
import { initCandidates } from '../src/engine/pag/init.js';
import { alignItems, renderSceneOrBackground } from '../src/engine/shapes/align-items.js';
import { makeHardBatch, shapesTokenizer } from '../src/engine/shapes/batches.js';
import { parsePrompt } from '../src/engine/shapes/captions.js';
import { heldOutScenes, partRates, successRate } from '../src/engine/shapes/evaluate.js';
import { isHeldOut } from '../src/engine/shapes/held-out.js';
import { judgeImage } from '../src/engine/shapes/judge.js';
import { SHAPES_CONFIG } from '../src/engine/shapes/model-config.js';
import { COLOURS } from '../src/engine/shapes/world.js';
import { renderSceneFloat } from '../src/engine/shapes/render.js';

const S = 64;
const P = 3 * S * S;
const CTX = SHAPES_CONFIG.text.contextLength;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string', default: '0' }, steps: { type: 'string', default: '1' }, batch: { type: 'string', default: '128' },
    align: { type: 'string', default: '32' }, seed: { type: 'string', default: '1' }, tune: { type: 'boolean', default: false },
    one: { type: 'string', default: '20' }, two: { type: 'string', default: '10' }, out: { type: 'string' }, dir: { type: 'string' },
    sheet: { type: 'string' }, bare: { type: 'string', default: '0' },
  },
});

function int(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`--${name} must be an integer ≥ ${min}, got ${text}`);
  return n;
}

const bytes = (a: Float32Array | Int32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const ids32 = (ids: BigInt64Array): Int32Array => Int32Array.from(ids, Number);

/** Writes and waits for the pipe to drain, so a slow reader holds the writer back instead of memory growing. */
async function write(buf: Buffer): Promise<void> {
  if (!process.stdout.write(buf)) await once(process.stdout, 'drain');
}

async function train(): Promise<void> {
  const from = int('from', values.from, 0);
  const steps = int('steps', values.steps, 1);
  const B = int('batch', values.batch, 4);
  const A = int('align', values.align, 0);
  const seed = int('seed', values.seed, 0);
  const bare = Number(values.bare);
  if (!(bare >= 0 && bare <= 2 / 3)) throw new RangeError(`--bare must be a share in [0, 2/3], got ${values.bare}`);
  for (let s = from; s < from + steps; s++) {
    // Step s's batch and items are pure functions of (seed, s), so a resumed run reads the same ones.
    const batch = makeHardBatch(seed * 1_000_003 + s, B, { group: 4, exclude: isHeldOut });
    await write(bytes(batch.pixels));
    await write(bytes(ids32(batch.ids)));
    if (A > 0) {
      const items = alignItems(seed * 7_919 + s + 0x9e37, A, { size: S, exclude: isHeldOut, bare });
      await write(bytes(items.pixels));
      await write(bytes(ids32(items.ids)));
      await write(bytes(items.direction));
    }
  }
}

async function prompts(): Promise<void> {
  if (!values.out) throw new Error('prompts needs --out DIR');
  const tag = values.tune ? 'tune-prompts' : 'eval-prompts';
  const one = heldOutScenes(int('one', values.one, 0), { count: 1 }, tag);
  const two = heldOutScenes(int('two', values.two, 0), { count: 2 }, tag);
  const all = [...one.prompts, ...two.prompts];
  // The scenes' own pictures: judged, they show what the judge gives a perfect synthesis.
  const truth = new Float32Array(all.length * P);
  [...one.scenes, ...two.scenes].forEach((scene, i) => renderSceneFloat(scene, S, truth, i * P));
  await writeFile(join(values.out, 'truth.f32'), bytes(truth));
  // Each scene's bare background (no shapes): where synthesis is once the background is painted.
  const bare = new Float32Array(all.length * P);
  [...one.scenes, ...two.scenes].forEach((scene, i) => renderSceneOrBackground({ ...scene, shapes: [] }, S, bare.subarray(i * P, (i + 1) * P)));
  await writeFile(join(values.out, 'bare.f32'), bytes(bare));
  await writeFile(join(values.out, 'palette.json'), JSON.stringify(Object.values(COLOURS).map((c) => c.map((v) => v / 255))));
  const tok = shapesTokenizer();
  const starts = new Float32Array(all.length * P);
  all.forEach((_, i) => {
    // The start judgeSyntheses gives prompt i with initCandidates=1 (its seed is 1000 + i).
    starts.set(initCandidates(1, S, 1000 + i)[0]!, i * P);
  });
  await writeFile(join(values.out, 'prompts.json'), JSON.stringify({ prompts: all, oneShape: one.prompts.length, ids: all.map((t) => tok.encode(t, CTX).ids) }));
  await writeFile(join(values.out, 'starts.f32'), bytes(starts));
}

async function judge(): Promise<void> {
  if (!values.dir) throw new Error('judge needs --dir DIR');
  const meta = JSON.parse(await readFile(join(values.dir, 'prompts.json'), 'utf8')) as { prompts: string[]; oneShape: number };
  const raw = await readFile(join(values.dir, 'images.f32'));
  const px = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  if (px.length !== meta.prompts.length * P) throw new RangeError(`images.f32 holds ${px.length / P} pictures for ${meta.prompts.length} prompts`);
  const rs = meta.prompts.map((prompt, i) => {
    const image = pixelsToRgb(new Tensor('float32', [3, S, S], px.subarray(i * P, (i + 1) * P)));
    return { prompt, image, score: 0, verdict: judgeImage(image, parsePrompt(prompt)) };
  });
  const one = rs.slice(0, meta.oneShape);
  const two = rs.slice(meta.oneShape);
  process.stdout.write(`${JSON.stringify({ judged: successRate(rs), oneShape: successRate(one), twoShapes: successRate(two), ...partRates(rs), n: rs.length })}\n`);
  if (values.sheet) {
    const rows = [];
    for (let i = 0; i < rs.length; i += 6) rows.push(rs.slice(i, i + 6).map((r) => ({ image: r.image, caption: `${r.verdict.ok ? '✓' : '✗'} ${r.prompt}` })));
    await writeFile(values.sheet, await contactSheet(rows));
  }
}

const commands: Record<string, () => Promise<void>> = { train, prompts, judge };
const run = commands[positionals[0] ?? ''];
if (!run) {
  process.stderr.write('usage: probe-data.ts train|prompts|judge [options] (see the header of tools/probe-data.ts)\n');
  process.exit(2);
}
run().catch((e: unknown) => {
  process.stderr.write(`probe-data: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
