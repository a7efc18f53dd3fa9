import { Tensor, allocate, numel, type DType } from '../tensor.js';
import { broadcastShapes } from './util.js';

/**
 * Build-time evaluation of small tensors, for the integer shape arithmetic exported graphs are
 * full of (Shape → Gather → Concat → Reshape). Values go through JS numbers: exact for sizes
 * and indices, which is all this is used for.
 */
export function fromNumbers(dtype: DType, dims: readonly number[], values: ArrayLike<number>): Tensor {
  const data = allocate(dtype, values.length);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) {
    for (let i = 0; i < values.length; i++) data[i] = BigInt(Math.trunc(values[i]!));
  } else {
    for (let i = 0; i < values.length; i++) (data as Float64Array)[i] = values[i]!;
  }
  return new Tensor(dtype, dims, data);
}

const strides = (dims: readonly number[]): number[] => {
  const s = new Array<number>(dims.length).fill(1);
  for (let k = dims.length - 2; k >= 0; k--) s[k] = s[k + 1]! * dims[k + 1]!;
  return s;
};

/** Applies fn elementwise over broadcast inputs. */
export function mapBroadcast(inputs: Tensor[], outDtype: DType, fn: (...v: number[]) => number): Tensor {
  const outDims = broadcastShapes(...inputs.map((t) => [...t.dims])) as number[];
  const n = numel(outDims);
  const vals = inputs.map((t) => t.toNumbers());
  const inStrides = inputs.map((t) => {
    const s = strides(t.dims);
    const lead = outDims.length - t.dims.length;
    return outDims.map((_, k) => (k < lead || t.dims[k - lead] === 1 ? 0 : s[k - lead]!));
  });
  const outStrides = strides(outDims);
  const out = new Array<number>(n);
  const args = new Array<number>(inputs.length);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < inputs.length; j++) {
      let off = 0;
      let rem = i;
      for (let k = 0; k < outDims.length; k++) {
        const c = Math.floor(rem / outStrides[k]!);
        rem -= c * outStrides[k]!;
        off += c * inStrides[j]![k]!;
      }
      args[j] = vals[j]![off]!;
    }
    out[i] = fn(...args);
  }
  return fromNumbers(outDtype, outDims, out);
}
