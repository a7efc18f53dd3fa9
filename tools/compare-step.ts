/**
 * Our synthesis step next to the PyTorch eager reference (tools/torch/pag_step_reference.py), same
 * architecture (random weights), views and threads: R rounds, each running `clipag bench` and the
 * reference once as separate processes, then the medians over rounds and the ratio ours/torch
 * (< 1: ours is faster).
 *
 *     node --import tsx tools/compare-step.ts [--views 8] [--threads 2] [--rounds 3] [--arch ViT-B-32]
 *         [--steps 5] [--warmup 2] [--python /usr/bin/python3] [--json]
 *
 * `--arch shapes` times the bundled demo model (models/shapes) against a reference of its shape.
 *
 * The reference needs torch with OpenBLAS (Debian: python3-torch + libopenblas0-pthread); its BLAS
 * line is printed so a slow reference BLAS cannot pass unnoticed.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from '../src/engine/stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run {
  msPerStep: number;
  /** The whole JSON object the command printed. */
  report: Record<string, unknown>;
}

class CompareError extends Error {}

function wholeNumber(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CompareError(`--${name} ${v}: expected a whole number of at least ${min}`);
  return n;
}

/** The last stdout line that is a JSON object with a finite msPerStep (progress lines may precede it). */
function parseReport(stdout: string): Run | undefined {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (const line of lines.reverse()) {
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) continue;
    const report = v as Record<string, unknown>;
    if (typeof report.msPerStep === 'number' && Number.isFinite(report.msPerStep)) return { msPerStep: report.msPerStep, report };
  }
  return undefined;
}

function tail(text: string, lines = 20): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function runOnce(label: string, cmd: string, args: string[]): Run {
  const shown = [cmd, ...args].join(' ');
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new CompareError(`${label} (${shown}) could not start: ${r.error.message}`);
  if (r.status !== 0) {
    const why = r.signal ? `was killed by ${r.signal}` : `failed with exit code ${r.status}`;
    throw new CompareError(`${label} (${shown}) ${why}; its stderr ends:\n${tail(r.stderr) || '(empty)'}`);
  }
  const run = parseReport(r.stdout);
  if (!run) throw new CompareError(`${label} (${shown}) printed no JSON object with a numeric msPerStep; its stdout ends:\n${tail(r.stdout) || '(empty)'}`);
  return run;
}

function main(): void {
  const { values: o } = parseArgs({
    options: {
      views: { type: 'string', default: '8' },
      threads: { type: 'string', default: '2' },
      rounds: { type: 'string', default: '3' },
      arch: { type: 'string', default: 'ViT-B-32' },
      steps: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '2' },
      python: { type: 'string', default: '/usr/bin/python3' },
      json: { type: 'boolean', default: false },
    },
  });
  const views = wholeNumber('views', o.views, 1);
  const threads = wholeNumber('threads', o.threads, 1);
  const rounds = wholeNumber('rounds', o.rounds, 1);
  const steps = wholeNumber('steps', o.steps, 1);
  const warmup = wholeNumber('warmup', o.warmup, 0);
  const common = ['--views', `${views}`, '--threads', `${threads}`, '--steps', `${steps}`, '--warmup', `${warmup}`, '--json'];
  // 'shapes' is the bundled demo model's architecture: ours runs the pack itself.
  const model = o.arch === 'shapes' ? ['--model', 'models/shapes'] : ['--arch', o.arch];
  const ours = (): Run => runOnce('our bench', process.execPath, ['bin/clipag.js', 'bench', ...model, ...common]);
  const torch = (): Run => runOnce('the torch reference', o.python, ['tools/torch/pag_step_reference.py', '--model', o.arch, ...common]);

  const oursMs: number[] = [];
  const torchMs: number[] = [];
  let torchBlas: unknown;
  const log = (s: string): void => { process.stderr.write(`${s}\n`); };
  for (let i = 0; i < rounds; i++) {
    // Alternate which one goes first so a slow drift of the shared machine does not favour either.
    const order = i % 2 === 0 ? ['ours', 'torch'] as const : ['torch', 'ours'] as const;
    for (const who of order) {
      const r = who === 'ours' ? ours() : torch();
      (who === 'ours' ? oursMs : torchMs).push(r.msPerStep);
      if (who === 'torch') torchBlas = r.report.blas;
      log(`round ${i + 1}/${rounds}: ${who} ${r.msPerStep.toFixed(1)} ms/step`);
    }
  }
  const medianOurs = median(oursMs);
  const medianTorch = median(torchMs);
  const ratio = medianOurs / medianTorch;
  if (o.json) {
    process.stdout.write(`${JSON.stringify({ arch: o.arch, views, threads, ours: oursMs, torch: torchMs, medianOurs, medianTorch, ratio, torchBlas })}\n`);
    return;
  }
  const list = (xs: number[]): string => xs.map((x) => x.toFixed(1)).join(', ');
  process.stdout.write(
    `${o.arch}, ${views} views, ${threads} threads, ${rounds} rounds (ms/step, each a median of ${steps} steps)\n` +
    `  ours   ${list(oursMs)} → median ${medianOurs.toFixed(1)}\n` +
    `  torch  ${list(torchMs)} → median ${medianTorch.toFixed(1)}   (${String(torchBlas)})\n` +
    `  ours/torch ${ratio.toFixed(3)} (${ratio < 1 ? 'ours faster' : 'torch faster'})\n`,
  );
}

try {
  main();
} catch (e) {
  if (!(e instanceof CompareError)) throw e;
  process.stderr.write(`compare-step: ${e.message}\n`);
  process.exitCode = 1;
}
