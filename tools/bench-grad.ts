/**
 * What does an input gradient cost next to the forward pass it differentiates?
 *
 *   node --import tsx tools/bench-grad.ts [--json] [--threads N] [--reps N] [--batch N]
 *        [--text-layers N] [--only vision|text] [--profile]
 *
 * Builds CLIP ViT-B/32's vision tower (random weights, 224 px) and its text tower, and for each
 * times a forward-only session and a forward + input-gradient session (the same graph plus our
 * autodiff's nodes): warm-up, then the median of --reps runs. The vision gradient is d loss/d pixels;
 * the text gradient is d loss/d (token-embedding output), i.e. the gradient a soft prompt would
 * get (ids are integers, the embedding table is a weight). loss = Σ y ⊙ r with r fixed, so every
 * output element carries gradient. FLOPs are the dense products (MatMul/Gemm/Conv/ConvTranspose)
 * counted from static shapes; a large ORT MatMul timed in the same run says what the CPU can do.
 *
 * --profile also runs each gradient session once under ORT's profiler and prints where its time
 * goes, by op type, split into forward nodes and the nodes our gradient rules added.
 */
import { cpus } from 'node:os';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, fmtShape, type Value } from '../src/engine/onnx/builder.js';
import { gradients } from '../src/engine/onnx/autodiff.js';
import { countFlops } from '../src/engine/onnx/flops.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { Tensor } from '../src/engine/onnx/tensor.js';
import { Session, toOrt } from '../src/engine/runtime.js';
import { matmulCeiling } from '../src/engine/bench/matmul.js';
import {
  VIT_B_32, bindWeights, randomTensors, textEmbed, textEncode, visionTower, type TensorSource,
} from '../src/engine/clip/towers.js';
import { median } from '../src/engine/stats.js';

interface Options {
  json: boolean;
  threads: number;
  reps: number;
  warmup: number;
  batch: number;
  textLayers: number;
  only?: 'vision' | 'text';
  profile: boolean;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      threads: { type: 'string' },
      reps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      batch: { type: 'string', default: '8' },
      'text-layers': { type: 'string', default: String(VIT_B_32.text.layers) },
      only: { type: 'string' },
      profile: { type: 'boolean', default: false },
    },
  });
  const int = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} ${v}: expected an integer ≥ ${min}`);
    return n;
  };
  if (values.only !== undefined && values.only !== 'vision' && values.only !== 'text') {
    throw new Error(`--only ${values.only}: expected vision or text`);
  }
  return {
    json: values.json ?? false,
    threads: values.threads === undefined ? cpus().length : int('threads', values.threads, 1),
    reps: int('reps', values.reps, 1),
    warmup: int('warmup', values.warmup, 0),
    batch: int('batch', values.batch, 1),
    textLayers: int('text-layers', values['text-layers'], 1),
    only: values.only as Options['only'],
    profile: values.profile ?? false,
  };
}

const say = (o: Options, msg: string) => { if (!o.json) process.stderr.write(`${msg}\n`); };

async function timeRuns(s: Session, feeds: Record<string, Tensor>, o: Options): Promise<number> {
  return (await timeInterleaved([s], feeds, o))[0]!;
}

/**
 * Medians of runs of several sessions on the same feeds, taken in turn (a, b, a, b, …), so that
 * load from other processes on a shared machine falls on all of them alike and their ratio holds.
 */
async function timeInterleaved(sessions: Session[], feeds: Record<string, Tensor>, o: Options): Promise<number[]> {
  for (let i = 0; i < o.warmup; i++) for (const s of sessions) await s.run(feeds);
  const ms: number[][] = sessions.map(() => []);
  for (let i = 0; i < o.reps; i++) {
    for (const [k, s] of sessions.entries()) {
      const t = performance.now();
      await s.run(feeds);
      ms[k]!.push(performance.now() - t);
    }
  }
  return ms.map(median);
}

function randomFloats(seed: number, dims: number[]): Tensor {
  return randomTensors({ seed, std: 1 })('x', dims);
}

/** One benchmarked model: how to build its output from its inputs, and what to differentiate. */
interface Case {
  name: string;
  inputs: (b: GraphBuilder) => Record<string, Value>;
  /** Returns the output and the value the input gradient is taken with respect to. */
  build: (b: GraphBuilder, v: Record<string, Value>) => { y: Value; wrt: Value };
  feeds: Record<string, Tensor>;
  wrtLabel: string;
}

/** The graph of a case: loss = Σ y ⊙ r, plus the gradient when asked. */
function buildCase(c: Case, withGrad: boolean): GraphBuilder {
  const b = new GraphBuilder(17, c.name);
  const { y, wrt } = c.build(b, c.inputs(b));
  const r = b.constant(randomFloats(99, y.dims), 'r');
  const loss = y.mul(r).sum();
  b.output(loss, 'loss');
  if (withGrad) b.output(gradients(b, loss, [wrt])[0]!, 'grad');
  return b;
}

interface CaseResult {
  name: string;
  wrt: string;
  forwardMs: number;
  gradMs: number;
  ratio: number;
  forwardGflop: number;
  gradGflop: number;
  forwardGflops: number;
  gradGflops: number;
  forwardNodes: number;
  gradNodes: number;
  profile?: Profile;
}

async function runCase(c: Case, o: Options): Promise<CaseResult> {
  say(o, `${c.name}: building graphs`);
  const fb = buildCase(c, false);
  const gb = buildCase(c, true);
  const ff = countFlops(fb);
  const gf = countFlops(gb);
  if (ff.uncounted.length + gf.uncounted.length > 0) say(o, `${c.name}: FLOPs not counted for ${[...ff.uncounted, ...gf.uncounted].join(', ')}`);
  const sessionOpts = { device: 'cpu' as const, intraOpThreads: o.threads };
  say(o, `${c.name}: sessions for forward (${fb.nodes.length} nodes) and forward + gradient (${gb.nodes.length} nodes)`);
  const fwd = await Session.create(fb.toModel(), sessionOpts);
  const gradModel = gb.toModel();
  const grad = await Session.create(gradModel, sessionOpts);
  const [forwardMs, gradMs] = (await timeInterleaved([fwd, grad], c.feeds, o)) as [number, number];
  await fwd.release();
  await grad.release();
  const res: CaseResult = {
    name: c.name,
    wrt: c.wrtLabel,
    forwardMs,
    gradMs,
    ratio: gradMs / forwardMs,
    forwardGflop: ff.total / 1e9,
    gradGflop: gf.total / 1e9,
    forwardGflops: ff.total / 1e6 / forwardMs,
    gradGflops: gf.total / 1e6 / gradMs,
    forwardNodes: fb.nodes.length,
    gradNodes: gb.nodes.length,
  };
  if (o.profile) res.profile = await profile(encodeModel(gradModel), c.feeds, gb, fb.nodes.length, o);
  return res;
}

interface ProfileRow { phase: 'forward' | 'gradient'; op: string; ms: number; count: number }
interface NodeRow { phase: 'forward' | 'gradient'; node: string; op: string; ms: number; inputs: string }
interface Profile { byOp: ProfileRow[]; topNodes: NodeRow[] }

/**
 * One profiled run of a gradient model, aggregated by op type, plus its slowest nodes with their
 * input shapes. Our builder names nodes `<Type>_<index>` in creation order, so an index at or past
 * the forward graph's node count marks a node a gradient rule emitted; ORT keeps a fused node's
 * first name, which keeps the split.
 */
async function profile(bytes: Uint8Array, feeds: Record<string, Tensor>, gb: GraphBuilder, forwardNodes: number, o: Options): Promise<Profile> {
  // ORT names its file <prefix>_<date>.json and does not tell the Node binding which, so each
  // profile gets a fresh directory to be found in.
  const dir = mkdtempSync(join(tmpdir(), 'clipag-profile-'));
  const s = await ort.InferenceSession.create(bytes, {
    executionProviders: ['cpu'], intraOpNumThreads: o.threads, interOpNumThreads: 1,
    graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: join(dir, 'grad'), logSeverityLevel: 3,
  });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(t);
  // The warm-up run is profiled too and dropped below; a node's time is its median over the rest,
  // since one run on a shared machine catches other processes' bursts.
  const runs = Math.max(3, o.reps);
  for (let i = 0; i <= runs; i++) await s.run(ortFeeds);
  s.endProfiling();
  await s.release();
  const file = readdirSync(dir).find((n) => n.endsWith('.json'));
  if (!file) throw new Error(`ORT wrote no profile into ${dir}`);
  interface Event { cat?: string; name?: string; dur?: number; args?: { op_name?: string } }
  const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Event[];
  rmSync(dir, { recursive: true, force: true });
  const byName = new Map(gb.nodes.map((n) => [n.name, n]));
  const shapes = (name: string) => {
    const n = byName.get(name);
    return n ? n.inputs.map((i) => fmtShape(gb.metas.get(i)?.shape ?? null)).join(' ') : '(fused)';
  };
  const times = new Map<string, { op: string; us: number[] }>();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name?.endsWith('_kernel_time')) continue;
    const node = e.name.slice(0, -'_kernel_time'.length);
    const t = times.get(node) ?? { op: e.args?.op_name ?? '?', us: [] };
    t.us.push(e.dur ?? 0);
    times.set(node, t);
  }
  const rows = new Map<string, ProfileRow>();
  const nodes: NodeRow[] = [];
  for (const [node, t] of times) {
    const idx = Number(/_(\d+)(?:\D|$)/.exec(node)?.[1] ?? NaN);
    const phase = Number.isFinite(idx) && idx >= forwardNodes ? 'gradient' : 'forward';
    const ms = median(t.us.slice(1)) / 1000;
    const key = `${phase}/${t.op}`;
    const row = rows.get(key) ?? { phase, op: t.op, ms: 0, count: 0 };
    row.ms += ms;
    row.count++;
    rows.set(key, row);
    nodes.push({ phase, node, op: t.op, ms, inputs: shapes(node) });
  }
  return { byOp: [...rows.values()].sort((a, b) => b.ms - a.ms), topNodes: nodes.sort((a, b) => b.ms - a.ms).slice(0, 25) };
}

function visionCase(o: Options, weights: TensorSource): Case {
  const cfg = VIT_B_32.vision;
  const dims = [o.batch, 3, cfg.imageSize, cfg.imageSize];
  return {
    name: 'ViT-B/32 vision',
    wrtLabel: 'pixels',
    inputs: (b) => ({ pixels: b.input('pixels', 'float32', dims) }),
    build: (b, v) => ({ y: visionTower(b, v.pixels!, cfg, bindWeights(b, weights)), wrt: v.pixels! }),
    feeds: { pixels: randomFloats(3, dims) },
  };
}

function textCase(o: Options, weights: TensorSource): Case {
  const cfg = { ...VIT_B_32.text, layers: o.textLayers };
  const len = cfg.contextLength;
  // Prompts of 5 to 20 tokens: start-of-text, words, end-of-text, zero padding.
  const ids: number[] = [];
  const r = randomFloats(4, [o.batch * len]).toNumbers();
  for (let n = 0; n < o.batch; n++) {
    const words = 3 + (n * 7) % 16;
    for (let k = 0; k < len; k++) {
      ids.push(k === 0 ? 49406 : k <= words ? Math.floor(Math.abs(r[n * len + k]!) * 10000) % 49000 : k === words + 1 ? 49407 : 0);
    }
  }
  return {
    name: `ViT-B/32 text (${cfg.layers} layers)`,
    wrtLabel: 'token-embedding output',
    inputs: (b) => ({ ids: b.input('ids', 'int64', [o.batch, len]) }),
    build: (b, v) => {
      const w = bindWeights(b, weights);
      const embedded = textEmbed(b, v.ids!, cfg, w);
      return { y: textEncode(b, embedded, v.ids!, cfg, w), wrt: embedded };
    },
    feeds: { ids: Tensor.int64([o.batch, len], ids) },
  };
}

const fmt = (x: number, d = 1) => x.toFixed(d);

async function main(): Promise<void> {
  const o = options();
  const weights = randomTensors({ seed: 0, std: 0.02 });
  const cases: Case[] = [];
  if (o.only !== 'text') cases.push(visionCase(o, weights));
  if (o.only !== 'vision') cases.push(textCase(o, weights));
  say(o, `threads ${o.threads}, batch ${o.batch}, ${o.warmup} warm-up + median of ${o.reps} runs; ${cpus()[0]?.model ?? 'cpu'}`);
  const matmul = await matmulCeiling({ device: 'cpu', intraOpThreads: o.threads }, o.reps);
  for (const m of matmul) {
    say(o, `MatMul ${m.n}³ float32, B ${m.weightB ? 'an initializer' : 'fed'}: ${fmt(m.ms)} ms, ${fmt(m.gflops)} GFLOP/s`);
  }
  const results: CaseResult[] = [];
  for (const c of cases) {
    const r = await runCase(c, o);
    results.push(r);
    say(o, `${r.name}, gradient wrt ${r.wrt}:`);
    say(o, `  forward          ${fmt(r.forwardMs).padStart(9)} ms  ${fmt(r.forwardGflop, 2).padStart(7)} GFLOP  ${fmt(r.forwardGflops).padStart(6)} GFLOP/s  (${r.forwardNodes} nodes)`);
    say(o, `  forward + grad   ${fmt(r.gradMs).padStart(9)} ms  ${fmt(r.gradGflop, 2).padStart(7)} GFLOP  ${fmt(r.gradGflops).padStart(6)} GFLOP/s  (${r.gradNodes} nodes)`);
    say(o, `  ratio            ${fmt(r.ratio, 2)}×   (FLOP ratio ${fmt(r.gradGflop / r.forwardGflop, 2)}×)`);
    if (r.profile) {
      const total = r.profile.byOp.reduce((a, p) => a + p.ms, 0);
      say(o, `  profile of forward + grad (${fmt(total)} ms in kernels, per-node medians), top op types:`);
      for (const p of r.profile.byOp.slice(0, 15)) say(o, `    ${p.phase.padEnd(9)} ${p.op.padEnd(22)} ${fmt(p.ms).padStart(8)} ms  ${fmt((100 * p.ms) / total).padStart(5)} %  ×${p.count}`);
      say(o, '  slowest nodes:');
      for (const p of r.profile.topNodes.slice(0, 12)) say(o, `    ${p.phase.padEnd(9)} ${p.node.padEnd(24)} ${fmt(p.ms, 2).padStart(8)} ms  ${p.inputs}`);
    }
  }
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ threads: o.threads, batch: o.batch, reps: o.reps, cpu: cpus()[0]?.model, matmul, results })}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench-grad: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
