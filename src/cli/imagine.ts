import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { writeRgbPng } from '../engine/clip/image.js';
import { ClipModel } from '../engine/pack/model.js';
import { imagine, type ImagineProgress, type ImagineResult } from '../engine/pag/imagine.js';
import { upscale } from '../engine/pag/upscale.js';
import { DEVICES } from '../engine/runtime.js';
import { UsageError, fail } from './errors.js';
import { deviceOf } from './device.js';
import { resolveModelDir } from './model-dir.js';

interface ImagineArgs {
  model?: string; steps?: string; size?: string; seed?: string; views?: string; negative?: string;
  init?: string; out?: string; frames?: string; json?: boolean; device?: string; threads?: string;
  count?: string; upscale?: string;
}

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`--${name} ${v}: expected a whole number`);
  return Number(v);
}

/** A file name from the prompt: lowercase words joined by dashes, then the seed. */
export function defaultOutName(prompt: string, seed: number): string {
  const slug = prompt.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'image';
  return `${slug}-${seed}.png`;
}

/** Where picture i (1-based) of a grid written to `out` goes: beside it, numbered. */
export function pictureOutName(out: string, i: number): string {
  return /\.png$/i.test(out) ? `${out.slice(0, -4)}-${i}.png` : `${out}-${i}.png`;
}

/** Steps on stderr: a live bar on a terminal, otherwise a line every tenth of the run. */
function stepProgress(): { update(p: ImagineProgress): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      stream: process.stderr, format: 'imagine [{bar}] {value}/{total} steps | loss {loss}', hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update(p) {
        if (!started) bar.start(p.steps, 0, { loss: '' });
        started = true;
        bar.update(p.step, { loss: p.globalLoss.toFixed(4) });
      },
      stop() { if (started) bar.stop(); },
    };
  }
  let nextTenth = 1;
  return {
    update(p) {
      if (p.step * 10 >= nextTenth * p.steps) {
        nextTenth = Math.floor((p.step * 10) / p.steps) + 1;
        process.stderr.write(`imagine: step ${p.step}/${p.steps}, loss ${p.globalLoss.toFixed(4)}\n`);
      }
    },
    stop() {},
  };
}

async function runImagine(prompt: string, o: ImagineArgs): Promise<void> {
  const threads = intOption('threads', o.threads);
  const model = await ClipModel.open(resolveModelDir(o.model), { device: deviceOf(o.device), intraOpThreads: threads });
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  const progress = stepProgress();
  try {
    if (o.frames) await mkdir(o.frames, { recursive: true });
    const frames: Promise<void>[] = [];
    const count = intOption('count', o.count);
    const runOpts = {
      signal: controller.signal,
      onNote: (m: string) => void process.stderr.write(`note: ${m}\n`),
      onProgress: (p: ImagineProgress) => {
        progress.update(p);
        if (o.frames && p.image) frames.push(writeRgbPng(p.image, join(o.frames, `step-${String(p.step).padStart(4, '0')}.png`)));
      },
    };
    const common = { prompt, negative: o.negative, steps: intOption('steps', o.steps), seed: intOption('seed', o.seed), views: intOption('views', o.views) };
    let result: ImagineResult;
    if (o.upscale !== undefined) {
      for (const [flag, v] of [['--size', o.size], ['--init', o.init], ['--count', o.count]] as const) {
        if (v !== undefined) throw new UsageError(`${flag} does not go with --upscale (the picture is enlarged ×2 and refined)`);
      }
      result = await upscale(model, { ...common, image: o.upscale }, runOpts);
    } else {
      result = await imagine(model, { ...common, init: o.init, size: intOption('size', o.size), count }, runOpts);
    }
    progress.stop();
    await Promise.all(frames);
    const out = o.out ?? defaultOutName(prompt, result.seed);
    // A grid: the grid image at `out`, each picture beside it.
    await writeRgbPng(result.image, out);
    const grid = result.pictures.length > 1
      ? await Promise.all(result.pictures.map(async (p, i) => {
        const file = pictureOutName(out, i + 1);
        await writeRgbPng(p.image, file);
        return { out: file, seed: p.seed, score: p.score };
      }))
      : undefined;
    const summary = { out, seed: result.seed, steps: result.steps, score: result.score, ms: Math.round(result.ms), msPerStep: Math.round(result.msPerStep), ...(grid ? { pictures: grid } : {}) };
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stderr.write(`wrote ${out}${grid ? ` and its ${grid.length} pictures` : ''} (seed ${result.seed}, score ${result.score.toFixed(4)}, ${(result.ms / 1000).toFixed(1)} s)\n`);
  } finally {
    progress.stop();
    process.off('SIGINT', onSigint);
    await model.close();
  }
}

export function registerImagine(program: Command): void {
  program
    .command('imagine')
    .description('make an image from a prompt by optimising pixels against the robust CLIP')
    .argument('<prompt>', 'what the picture shows')
    .option('--model <dir>', 'model pack (default: $MODEL_DIR, else the bundled demo model)')
    .option('--steps <n>', 'optimisation steps (default: the model\'s recipe, 100 for CLIPAG)')
    .option('--size <px>', 'canvas side in pixels (default: the model\'s input size; up to 4×)')
    .option('--seed <n>', 'random seed; the same seed gives the same image on the same machine')
    .option('--views <n>', 'augmented views per step, half global, half patches (default: the recipe\'s, 64 for CLIPAG)')
    .option('--negative <text>', 'what the picture should not look like')
    .option('--init <file>', 'start from this image instead of noise (a variation of it)')
    .option('--count <n>', 'pictures made together (1-4): a grid at --out, each picture beside it as <out>-<i>.png')
    .option('--upscale <file>', 'enlarge this picture ×2 and refine it toward the prompt (fewer steps)')
    .option('--out <file>', 'where to write the PNG (default: <prompt>-<seed>.png)')
    .option('--frames <dir>', 'also write every progress frame there')
    .option('--device <name>', `where to run: ${DEVICES.join(', ')}`)
    .option('--threads <n>', 'CPU threads for ONNX Runtime (default: one per core)')
    .option('--json', 'print {out, seed, steps, score, ms, msPerStep} on stdout (a grid: and pictures [{out, seed, score}])')
    .action(async (prompt: string, o: ImagineArgs) => {
      try {
        await runImagine(prompt, o);
      } catch (e) {
        fail('imagine', e);
      }
    });
}
