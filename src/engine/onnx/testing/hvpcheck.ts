import assert from 'node:assert/strict';
import { GraphBuilder } from '../builder.js';
import { gradients } from '../autodiff.js';
import { Tensor, numel, type DType } from '../tensor.js';
import { Session } from '../../runtime.js';
import { declareInputs, randn, rng, type CheckCase, type GradInput } from './gradcheck.js';
import '../ops/index.js';

/** The loss is L = Σ y ⊙ r for a fixed random r; `tol` is relative to the largest second derivative (at least 1). */
export interface HvpCheckCase extends CheckCase {
  /** Inputs whose gradients ∂L/∂x are dotted with random v: D = Σ v ⊙ ∂L/∂x. Default: every float input. */
  first?: string[];
  /** Inputs D is differentiated with respect to. Default: `first` (so the check is of H·v). */
  second?: string[];
  /** The second derivative is 0 by construction (a piecewise-linear op); otherwise an all-zero result fails the check. */
  expectZero?: boolean;
}

/**
 * Checks second-order autodiff: builds g = ∂L/∂x by `gradients`, then D = Σ v ⊙ g, then ∂D/∂p by
 * `gradients` again (for p = x that is the Hessian-vector product H·v), and compares every
 * element with central differences of D itself, (D(p + h·eₖ) − D(p − h·eₖ)) / 2h. D's first
 * derivative is what the check is about, so D is evaluated by the once-differentiated graph.
 */
export async function hvpCheck(c: HvpCheckCase): Promise<void> {
  const dtype = c.dtype ?? 'float64';
  const eps = c.eps ?? (dtype === 'float64' ? 1e-5 : 1e-2);
  const tol = c.tol ?? (dtype === 'float64' ? 1e-6 : 3e-2);
  const r = rng(c.seed ?? 1);
  const values = new Map(c.inputs.map((i) => [i.name, i.values ?? randn(r, numel(i.dims))]));
  const dt = (i: GradInput): DType => i.dtype ?? dtype;
  const isFloatInput = (i: GradInput) => i.wrt !== false && dt(i).startsWith('float');
  const first = c.first ?? c.inputs.filter(isFloatInput).map((i) => i.name);
  const second = c.second ?? first;
  const declared = (name: string): GradInput => {
    const i = c.inputs.find((d) => d.name === name);
    assert.ok(i, `hvpCheck: no input named ${name}`);
    return i;
  };
  for (const name of second) assert.ok(declared(name).as !== 'initializer', `finite differences need ${name} to be a graph input`);
  const tensorOf = (i: GradInput, vals: number[]) => Tensor.floats(dt(i), i.dims, vals);

  const make = (withSecond: boolean) => {
    const b = new GraphBuilder(c.opset ?? 17);
    const v = declareInputs(b, c.inputs, values, dtype);
    const y = c.build(b, v);
    const yDims = c.outputDims ?? y.dims;
    const loss = y.mul(b.constant(Tensor.floats(y.dtype, yDims, randn(rng(99), numel(yDims))))).sum();
    const grads = gradients(b, loss, first.map((n) => v[n]!));
    const dotted = grads.map((g, k) => {
      const dims = declared(first[k]!).dims;
      return g.mul(b.constant(Tensor.floats(g.dtype, dims, randn(rng(7 + k), numel(dims))), 'direction')).sum();
    });
    const d = dotted.length === 1 ? dotted[0]! : b.op1('Sum', dotted);
    b.output(d, 'D');
    if (withSecond) gradients(b, d, second.map((n) => v[n]!)).forEach((h, k) => b.output(h, `h_${second[k]}`));
    return b.toModel();
  };

  const session = await Session.create(make(true), { device: 'cpu', intraOpThreads: 1 });
  const dOnly = await Session.create(make(false), { device: 'cpu', intraOpThreads: 1 });
  const feedsFor = (over?: { name: string; vals: number[] }) => {
    const feeds: Record<string, Tensor> = {};
    for (const i of c.inputs) {
      if (i.as === 'initializer') continue;
      feeds[i.name] = tensorOf(i, over && over.name === i.name ? over.vals : values.get(i.name)!);
    }
    return feeds;
  };
  let maxMagnitude = 0;
  try {
    const analytic = await session.run(feedsFor());
    for (const name of second) {
      const h = analytic[`h_${name}`]!;
      assert.deepEqual([...h.dims], declared(name).dims, `second derivative by ${name} has the wrong shape`);
      const a = h.toNumbers();
      const base = values.get(name)!;
      const numeric: number[] = [];
      for (let k = 0; k < base.length; k++) {
        const at = async (delta: number) => {
          const vals = [...base];
          vals[k]! += delta;
          return (await dOnly.run(feedsFor({ name, vals }))).D!.toNumbers()[0]!;
        };
        numeric.push(((await at(eps)) - (await at(-eps))) / (2 * eps));
      }
      const magnitude = Math.max(...numeric.map(Math.abs));
      maxMagnitude = Math.max(maxMagnitude, magnitude);
      const scale = Math.max(1, magnitude);
      for (let k = 0; k < a.length; k++) {
        const err = Math.abs(a[k]! - numeric[k]!) / scale;
        assert.ok(err <= tol, `∂D/∂${name}[${k}]: analytic ${a[k]} vs numeric ${numeric[k]} (error ${err.toExponential(2)} > ${tol})`);
      }
    }
  } finally {
    await session.release();
    await dOnly.release();
  }
  if (c.expectZero) assert.ok(maxMagnitude <= tol, `expected a zero second derivative, central differences give up to ${maxMagnitude}`);
  else assert.ok(maxMagnitude > (dtype === 'float64' ? 1e-4 : 5e-2), `the second derivative is ~0 everywhere (max ${maxMagnitude.toExponential(2)}): the case checks nothing`);
}
