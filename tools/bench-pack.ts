/**
 * Model-pack figures for a ViT-B/32-sized checkpoint (random weights, ~600 MB fp32, or ~1.8 GB with
 * AdamW state like the CLIPAG release): import time and peak RSS, first load (graph built and
 * cached) and cached load, text and image embedding latency. Each phase runs in a fresh node
 * process so its peak RSS and load time are its own.
 *
 *     node --import tsx tools/bench-pack.ts [--optimizer] [--reps 10] [--dir /tmp/clipag-bench-pack] [--json] [--keep]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { builtinConfig } from '../src/engine/clip/config.js';
import { expectedTensors } from '../src/engine/clip/layout.js';
import {
  lazyTensor, PyFloat, PyOrderedDict, PyTuple, type PickleValue, writeTorchCheckpoint,
} from '../src/engine/clip/testing/torch-zip-writer.js';
import type { TypedData } from '../src/engine/onnx/tensor.js';
import { hashName, hashUniform } from '../src/engine/random.js';

const { values: args } = parseArgs({
  options: {
    optimizer: { type: 'boolean', default: false },
    reps: { type: 'string', default: '10' },
    dir: { type: 'string', default: '/tmp/clipag-bench-pack' },
    json: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    phase: { type: 'string' },
    pack: { type: 'string' },
    src: { type: 'string' },
  },
});

const CHILD = fileURLToPath(import.meta.url);

// --- child phases -------------------------------------------------------------------------------

async function childPhase(phase: string): Promise<void> {
  const t0 = performance.now();
  const out: Record<string, number | boolean> = {};
  if (phase === 'import') {
    const { importModel } = await import('../src/engine/pack/import.js');
    await importModel(args.src!, args.pack!, { arch: 'ViT-B-32' });
    out.ms = performance.now() - t0;
  } else {
    const { ClipModel } = await import('../src/engine/pack/model.js');
    const { Tensor } = await import('../src/engine/onnx/tensor.js');
    const model = await ClipModel.open(args.pack!, { device: 'cpu' });
    await model.session('text');
    await model.session('vision');
    out.loadMs = performance.now() - t0;
    out.cached = model.fromCache.get('text') === true && model.fromCache.get('vision') === true;
    if (phase === 'embed') {
      const reps = Number(args.reps);
      const ids = new Array<number>(77).fill(0);
      [49406, 320, 1125, 539, 1395, 49407].forEach((id, i) => { ids[i] = id; });
      const text = Tensor.int64([1, 77], ids);
      const pixels = new Tensor('float32', [1, 3, 224, 224], Float32Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i)));
      const time = async (f: () => Promise<unknown>): Promise<number> => {
        await f(); // warm-up
        const ts: number[] = [];
        for (let i = 0; i < reps; i++) {
          const s = performance.now();
          await f();
          ts.push(performance.now() - s);
        }
        return ts.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
      };
      out.textMs = await time(() => model.embedIds(text));
      out.imageMs = await time(() => model.embedPixels(pixels));
    }
    await model.close();
  }
  out.peakRssMb = process.resourceUsage().maxRSS / 1024;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

function runChild(phase: string, extra: string[]): Record<string, number | boolean> {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CHILD, '--phase', phase, ...extra], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`phase ${phase} failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number | boolean>;
}

// --- the checkpoint -------------------------------------------------------------------------------

/** Cheap deterministic noise (a hash of name and index): the figures do not depend on the values. */
function noise(name: string, scale: number, offset: number): (first: number, out: TypedData) => void {
  const seed = hashName(name);
  return (first, out) => {
    const o = out as Float32Array;
    for (let i = 0; i < o.length; i++) o[i] = offset + scale * hashUniform(seed, first + i);
  };
}

async function writeCheckpoint(path: string, withOptimizer: boolean): Promise<number> {
  const infos = expectedTensors(builtinConfig('ViT-B-32'));
  const sd = new Map<string, PickleValue>();
  for (const t of infos) {
    const gain = /(^|\.)ln_[^.]*\.weight$/.test(t.name);
    const fill = t.name === 'logit_scale' ? noise(t.name, 0, Math.log(1 / 0.07)) : noise(t.name, 0.04, gain ? 1 : 0);
    sd.set(`module.${t.name}`, lazyTensor('float32', t.shape, fill));
  }
  let obj: PickleValue = new PyOrderedDict(sd);
  if (withOptimizer) {
    // AdamW state as torch.optim writes it: two moment tensors per parameter, the bulk of a training checkpoint.
    const state = new Map<number, PickleValue>();
    infos.forEach((t, i) => {
      state.set(i, new Map<string, PickleValue>([
        ['step', new PyFloat(1)],
        ['exp_avg', lazyTensor('float32', t.shape, noise(`m.${t.name}`, 1e-3, 0))],
        ['exp_avg_sq', lazyTensor('float32', t.shape, noise(`v.${t.name}`, 1e-6, 1e-6))],
      ]));
    });
    const group = new Map<string, PickleValue>([
      ['lr', new PyFloat(1e-5)], ['betas', new PyTuple([new PyFloat(0.9), new PyFloat(0.98)])], ['eps', new PyFloat(1e-6)],
      ['weight_decay', new PyFloat(0.2)], ['params', infos.map((_, i) => i)],
    ]);
    obj = new Map<string, PickleValue>([
      ['epoch', 2], ['name', 'bench'], ['state_dict', obj],
      ['optimizer', new Map<string, PickleValue>([['state', state], ['param_groups', [group]]])],
    ]);
  }
  await writeTorchCheckpoint(path, obj);
  return statSync(path).size;
}

// --- driver -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (args.phase) return childPhase(args.phase);
  const dir = args.dir!;
  mkdirSync(dir, { recursive: true });
  const ckpt = join(dir, args.optimizer ? 'vit-b-32-train.pt' : 'vit-b-32.pt');
  const pack = join(dir, 'pack');
  const log = (s: string): void => void (args.json || process.stderr.write(`${s}\n`));
  if (!existsSync(ckpt)) {
    log(`writing ${ckpt} …`);
    await writeCheckpoint(ckpt, args.optimizer!);
  }
  const ckptMb = statSync(ckpt).size / 1e6;
  rmSync(pack, { recursive: true, force: true });
  log('import …');
  const imp = runChild('import', ['--src', ckpt, '--pack', pack]);
  const packMb = statSync(join(pack, 'weights.safetensors')).size / 1e6;
  log('first load …');
  const first = runChild('load', ['--pack', pack]);
  log('cached load + latencies …');
  const cached = runChild('embed', ['--pack', pack, '--reps', args.reps!]);
  const result = {
    checkpointMb: Math.round(ckptMb), packMb: Math.round(packMb),
    importS: +((imp.ms as number) / 1000).toFixed(2), importPeakRssMb: Math.round(imp.peakRssMb as number),
    firstLoadS: +((first.loadMs as number) / 1000).toFixed(2), firstLoadCached: first.cached,
    cachedLoadS: +((cached.loadMs as number) / 1000).toFixed(2), cachedLoadCached: cached.cached,
    loadPeakRssMb: Math.round(cached.peakRssMb as number),
    textEmbedMs: +(cached.textMs as number).toFixed(1), imageEmbedMs: +(cached.imageMs as number).toFixed(1),
  };
  if (args.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else console.table(result);
  if (!args.keep) rmSync(dir, { recursive: true, force: true });
}

await main();
