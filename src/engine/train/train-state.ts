/**
 * A training run's state on disk: parameters, each parameter's AdamW moments and the step count,
 * and where the run stands, in one safetensors file written atomically, so a run killed at any
 * moment resumes from its last checkpoint with nothing half-written.
 */
import { openSafetensors, writeSafetensors } from '../clip/safetensors.js';
import { AdamW } from '../pag/optim.js';
import { Tensor } from '../onnx/tensor.js';
import type { Params } from './params.js';

export interface TrainState {
  params: Params;
  optim: Map<string, AdamW>;
  /** Free-form progress (phase, step …), kept as the file's metadata. */
  meta: Record<string, string>;
}

export async function saveTrainState(path: string, s: TrainState): Promise<void> {
  const tensors: Record<string, Tensor> = {};
  for (const [name, p] of s.params) {
    tensors[`param.${name}`] = new Tensor('float32', [p.length], p);
    const o = s.optim.get(name);
    if (o) {
      const st = o.state();
      tensors[`adam_m.${name}`] = new Tensor('float32', [p.length], st.m);
      tensors[`adam_v.${name}`] = new Tensor('float32', [p.length], st.v);
      tensors[`adam_t.${name}`] = new Tensor('int64', [1], BigInt64Array.of(BigInt(st.steps)));
    }
  }
  await writeSafetensors(path, tensors, s.meta);
}

/**
 * Reads a state written by saveTrainState. `makeOptim(name, size)` builds each parameter's
 * optimizer (its hyper-parameters are the caller's); saved moments are restored into it.
 */
export async function loadTrainState(path: string, makeOptim: (name: string, size: number) => AdamW): Promise<TrainState> {
  const f = await openSafetensors(path);
  try {
    const params: Params = new Map();
    const optim = new Map<string, AdamW>();
    const names = f.list().map((t) => t.name);
    for (const key of names) {
      if (!key.startsWith('param.')) continue;
      const name = key.slice('param.'.length);
      const p = (await f.read(key)).data as Float32Array;
      params.set(name, p);
      if (names.includes(`adam_m.${name}`)) {
        const o = makeOptim(name, p.length);
        const steps = Number(((await f.read(`adam_t.${name}`)).data as BigInt64Array)[0]);
        o.restore({ steps, m: (await f.read(`adam_m.${name}`)).data as Float32Array, v: (await f.read(`adam_v.${name}`)).data as Float32Array });
        optim.set(name, o);
      }
    }
    return { params, optim, meta: { ...f.metadata } };
  } finally {
    await f.close();
  }
}

/**
 * Why a loaded state cannot continue a run of this architecture (another tower, another size, a
 * file of something else), or null when every tensor the architecture needs is there at its size.
 */
export function stateMismatch(state: TrainState, expected: ReadonlyArray<{ name: string; shape: readonly number[] }>): string | null {
  if (state.params.size === 0) return 'it holds no training parameters (not a train-shapes checkpoint)';
  const missing: string[] = [];
  for (const t of expected) {
    const p = state.params.get(t.name);
    const want = t.shape.reduce((a, b) => a * b, 1);
    if (!p) missing.push(t.name);
    else if (p.length !== want) return `${t.name} has ${p.length} values, this architecture needs ${want} (another --tower, --image-size, --patch-size or --width?)`;
  }
  if (missing.length) {
    const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
    return `it lacks ${missing.slice(0, 3).join(', ')}${more} (another --tower?)`;
  }
  const known = new Set(expected.map((t) => t.name));
  const extra = [...state.params.keys()].filter((n) => !known.has(n));
  return extra.length ? `it holds ${extra[0]}, which this architecture does not have (another --tower?)` : null;
}
