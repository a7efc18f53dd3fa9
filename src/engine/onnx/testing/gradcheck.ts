import assert from 'node:assert/strict';
import { GraphBuilder, type Value } from '../builder.js';
import { gradients } from '../autodiff.js';
import { Tensor, numel, type DType } from '../tensor.js';
import { Session } from '../../runtime.js';
import '../ops/index.js';

export { rng, randn } from '../../random.js';
import { rng, randn } from '../../random.js';

export interface GradInput {
  name: string;
  dims: number[];
  /** Values; default standard normal. */
  values?: number[];
  /** Differentiate with respect to it (default true). Non-float inputs never are. */
  wrt?: boolean;
  /** Fed as a graph input (default) or baked in as an initializer. */
  as?: 'input' | 'initializer';
  dtype?: DType;
  /** Axes declared symbolic in the graph (e.g. [0] for a dynamic batch), to exercise shape-agnostic rules. */
  dynamicAxes?: number[];
}

/** What the first- and second-order checks share: the graph, its inputs and the numerics. */
export interface CheckCase {
  inputs: GradInput[];
  /** Builds the op(s) under test from the declared values; returns the output to check. */
  build: (b: GraphBuilder, v: Record<string, Value>) => Value;
  /** float64 gives tight checks; float32 for kernels ORT only has in float32. */
  dtype?: 'float64' | 'float32';
  opset?: number;
  seed?: number;
  eps?: number;
  /** The output's concrete dims, needed when dynamicAxes leave its shape symbolic. */
  outputDims?: number[];
  /** Allowed error, relative to the largest derivative magnitude. */
  tol?: number;
}

export type GradCheckCase = CheckCase;

/**
 * The case's inputs in a graph: initializers holding their values, or graph inputs (symbolic
 * where dynamicAxes says), each in its own dtype or the case's.
 */
export function declareInputs(b: GraphBuilder, inputs: GradInput[], values: Map<string, number[]>, dtype: DType): Record<string, Value> {
  const v: Record<string, Value> = {};
  for (const i of inputs) {
    const dt = i.dtype ?? dtype;
    v[i.name] = i.as === 'initializer'
      ? b.initializer(i.name, Tensor.floats(dt, i.dims, values.get(i.name)!))
      : b.input(i.name, dt, i.dims.map((d, k) => (i.dynamicAxes?.includes(k) ? `${i.name}_d${k}` : d)));
  }
  return v;
}

/**
 * Checks analytic gradients against central finite differences of L = Σ y ⊙ r, with r random so
 * that rules which only hold for dy = 1 (softmax's, say) still get caught.
 */
export async function gradCheck(c: GradCheckCase): Promise<void> {
  const dtype = c.dtype ?? 'float64';
  const eps = c.eps ?? (dtype === 'float64' ? 1e-6 : 1e-2);
  const tol = c.tol ?? (dtype === 'float64' ? 1e-6 : 2e-2);
  const r = rng(c.seed ?? 1);
  const values = new Map(c.inputs.map((i) => [i.name, i.values ?? randn(r, numel(i.dims))]));
  const dt = (i: GradInput): DType => i.dtype ?? dtype;
  const tensorOf = (i: GradInput, vals: number[]) => Tensor.floats(dt(i), i.dims, vals);

  const make = (withGrad: boolean) => {
    const b = new GraphBuilder(c.opset ?? 17);
    const v = declareInputs(b, c.inputs, values, dtype);
    const y = c.build(b, v);
    // Output dims come from the concrete values, since a dynamic input leaves symbolic dims in y.
    const yDims = c.outputDims ?? y.dims;
    const weights = b.constant(Tensor.floats(y.dtype, yDims, randn(rng(99), numel(yDims))));
    const loss = y.mul(weights).sum();
    b.output(loss, 'loss');
    const wrt = c.inputs.filter((i) => i.wrt !== false && (i.dtype === undefined || i.dtype.startsWith('float')));
    if (withGrad) gradients(b, loss, wrt.map((i) => v[i.name]!)).forEach((g, k) => b.output(g, `grad_${wrt[k]!.name}`));
    return { model: b.toModel(), wrt };
  };

  const { model, wrt } = make(true);
  const session = await Session.create(model, { device: 'cpu', intraOpThreads: 1 });
  const lossOnly = await Session.create(make(false).model, { device: 'cpu', intraOpThreads: 1 });
  const feedsFor = (over?: { name: string; vals: number[] }) => {
    const feeds: Record<string, Tensor> = {};
    for (const i of c.inputs) {
      if (i.as === 'initializer') continue;
      feeds[i.name] = tensorOf(i, over && over.name === i.name ? over.vals : values.get(i.name)!);
    }
    return feeds;
  };
  const analytic = await session.run(feedsFor());
  for (const w of wrt) {
    assert.ok(w.as !== 'initializer', 'finite differences need the value to be a graph input');
    const g = analytic[`grad_${w.name}`]!;
    assert.deepEqual([...g.dims], w.dims, `gradient of ${w.name} has the wrong shape`);
    const a = g.toNumbers();
    const base = values.get(w.name)!;
    const numeric: number[] = [];
    for (let k = 0; k < base.length; k++) {
      const plus = [...base]; plus[k]! += eps;
      const minus = [...base]; minus[k]! -= eps;
      const lp = (await lossOnly.run(feedsFor({ name: w.name, vals: plus }))).loss!.toNumbers()[0]!;
      const lm = (await lossOnly.run(feedsFor({ name: w.name, vals: minus }))).loss!.toNumbers()[0]!;
      numeric.push((lp - lm) / (2 * eps));
    }
    const scale = Math.max(1, ...numeric.map(Math.abs));
    for (let k = 0; k < a.length; k++) {
      const err = Math.abs(a[k]! - numeric[k]!) / scale;
      assert.ok(err <= tol, `d loss/d ${w.name}[${k}]: analytic ${a[k]} vs numeric ${numeric[k]} (error ${err.toExponential(2)} > ${tol})`);
    }
  }
  await session.release();
  await lossOnly.release();
}
