import assert from 'node:assert/strict';
import type { GraphBuilder, Value } from '../builder.js';
import type { Tensor } from '../tensor.js';
import { Session } from '../../runtime.js';

const bits = (t: Tensor): (number | bigint)[] => Array.from(t.data as ArrayLike<number | bigint>);

/**
 * Checks that every named value was folded at build time and that ORT, running the same graph,
 * computes the same dtype, dims and bits (so INT64_MAX and rounding modes are compared exactly).
 */
export async function agreesWithOrt(b: GraphBuilder, folded: Record<string, Value>): Promise<void> {
  for (const [name, v] of Object.entries(folded)) {
    assert.ok(v.known, `${name} (${v.name}) was not folded`);
    b.output(v, name);
  }
  const session = await Session.create(b.toModel(), { device: 'cpu', intraOpThreads: 1 });
  const out = await session.run({});
  await session.release();
  for (const [name, v] of Object.entries(folded)) {
    const rt = out[name]!;
    assert.equal(rt.dtype, v.known!.dtype, `${name}: folded dtype differs from ORT's`);
    assert.deepEqual([...rt.dims], [...v.known!.dims], `${name}: folded dims differ from ORT's`);
    assert.deepEqual(bits(rt), bits(v.known!), `${name}: folded values differ from ORT's`);
  }
}

/** Builds a graph with `build`, then checks its outputs with agreesWithOrt; returns the folded tensors. */
export async function foldMatchesRuntime(b: GraphBuilder, build: (b: GraphBuilder) => Value[]): Promise<Tensor[]> {
  const outs = build(b);
  await agreesWithOrt(b, Object.fromEntries(outs.map((v, k) => [`out${k}`, v])));
  return outs.map((v) => v.known!);
}
