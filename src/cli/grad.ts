import type { Command } from 'commander';
import { gradientModel } from '../engine/onnx/index.js';
import { encodeModel, loadModelFile } from '../engine/onnx/proto.js';
import { writeFileAtomic } from '../engine/atomic-write.js';
import { UsageError, fail } from './errors.js';

/** Parses `name=8x3x224x224` (a `?` or a name keeps a dim dynamic). */
export function parseShapes(specs: string[]): Record<string, (number | string)[]> {
  const out: Record<string, (number | string)[]> = {};
  for (const spec of specs) {
    const m = /^([^=]+)=([\w?]+(?:[x,][\w?]+)*)$/.exec(spec);
    if (!m) throw new UsageError(`--shape ${spec}: expected NAME=DIMSxDIMS… (e.g. pixels=8x3x224x224)`);
    out[m[1]!] = m[2]!.split(/[x,]/).map((d) => (/^\d+$/.test(d) ? Number(d) : d));
  }
  return out;
}

export interface GradArgs {
  wrt: string;
  loss: string;
  out: string;
  shape?: string[];
  prefix?: string;
}

export async function runGrad(modelPath: string, o: GradArgs): Promise<void> {
  const wrt = o.wrt.split(',').map((s) => s.trim()).filter(Boolean);
  if (wrt.length === 0) throw new UsageError('--wrt names no value');
  let model;
  try {
    model = loadModelFile(modelPath);
  } catch (e) {
    throw new UsageError(`${modelPath}: ${(e as Error).message}`);
  }
  let out;
  try {
    out = gradientModel(model, o.loss, wrt, { inputShapes: parseShapes(o.shape ?? []), prefix: o.prefix });
  } catch (e) {
    throw new UsageError(`${modelPath}: ${(e as Error).message}`);
  }
  await writeFileAtomic(o.out, encodeModel(out));
  process.stderr.write(`wrote ${o.out}: outputs ${out.graph.outputs.map((v) => v.name).join(', ')}\n`);
}

export function registerGrad(program: Command): void {
  program
    .command('grad')
    .description('write a model that also outputs grad_<NAME> = d(sum of LOSS)/d(NAME)')
    .argument('<model>', 'ONNX model file')
    .requiredOption('--wrt <names>', 'comma-separated float inputs or initializers to differentiate with respect to')
    .requiredOption('--loss <output>', 'the output whose sum is differentiated')
    .requiredOption('--out <file>', 'where to write the gradient model')
    .option('--shape <name=dims...>', 'fix dynamic input dims first, e.g. pixels=8x3x224x224')
    .option('--prefix <prefix>', 'output name prefix (default grad_, or grad2_, grad3_… when the model already has grad_ outputs)')
    .action(async (model: string, o: GradArgs) => {
      try {
        await runGrad(model, o);
      } catch (e) {
        fail('grad', e);
      }
    });
}
