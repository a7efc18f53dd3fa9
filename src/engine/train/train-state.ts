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
