import { GraphBuilder, Value, fmtShape } from './builder.js';
import type { Model } from './ir.js';
import { opDef } from './registry.js';
import { Tensor, isFloat } from './tensor.js';
import type { GradCtx } from './types.js';

export class GradientError extends Error {}

/** Sums gradient contributions; one Add for two, one Sum node for more. */
function accumulate(b: GraphBuilder, parts: Value[]): Value {
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 2) return parts[0]!.add(parts[1]!);
  return b.op1('Sum', parts);
}

function onesLike(b: GraphBuilder, v: Value): Value {
  if (v.isStatic) {
    const n = v.dims.reduce((a, c) => a * c, 1);
    return b.constant(Tensor.floats(v.dtype, v.dims, new Array<number>(n).fill(1)), 'ones');
  }
  return b.op1('ConstantOfShape', [b.op1('Shape', [v])], { value: { kind: 'tensor', value: Tensor.floats(v.dtype, [1], [1]) } });
}

/**
 * Reverse-mode differentiation on a graph under construction: appends nodes computing
 * d(sum of loss)/d(w) for each w in wrt and returns those values (same shape and dtype as w).
 *
 * Only nodes on a float path from some w to the loss are differentiated; integer, bool and shape
 * subgraphs never carry gradients and are left as they are.
 */
export function gradients(b: GraphBuilder, loss: Value, wrt: Value[]): Value[] {
  if (!isFloat(loss.dtype)) throw new GradientError(`loss ${loss.name} is ${loss.dtype}, not a float tensor`);
  for (const w of wrt) {
    if (!isFloat(w.dtype)) throw new GradientError(`cannot differentiate with respect to ${w.name}: it is ${w.dtype}, not a float tensor`);
  }
  const nodes = [...b.nodes];

  // Forward: values that depend (through floats) on some w.
  const fromWrt = new Set(wrt.map((w) => w.name));
  for (const n of nodes) {
    if (n.inputs.some((i) => fromWrt.has(i))) {
      for (const o of n.outputs) if (o && isFloat(b.metas.get(o)?.dtype)) fromWrt.add(o);
    }
  }
  // Backward: of those, the ones the loss depends on.
  const needed = new Set<string>([loss.name]);
  const onPath: typeof nodes = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const n = nodes[k]!;
    if (!n.outputs.some((o) => needed.has(o) && fromWrt.has(o))) continue;
    onPath.push(n);
    for (const i of n.inputs) if (fromWrt.has(i)) needed.add(i);
  }

  // Check every node first, so an unsupported op is reported before anything is built.
  for (let k = onPath.length - 1; k >= 0; k--) {
    const node = onPath[k]!;
    const def = node.domain === '' || node.domain === 'ai.onnx' ? opDef(node.opType) : undefined;
    if (!def) throw new GradientError(`unsupported op ${node.opType} (node ${node.name}): no gradient rule`);
    if (!def.grad) throw new GradientError(`op ${node.opType} (node ${node.name}) carries no gradient, but the loss depends on it through a float path`);
  }

  const contributions = new Map<string, Value[]>();
  const contribute = (name: string, g: Value) => {
    const list = contributions.get(name);
    if (list) list.push(g);
    else contributions.set(name, [g]);
  };
  const total = (name: string): Value | undefined => {
    const parts = contributions.get(name);
    if (!parts) return undefined;
    const sum = accumulate(b, parts);
    contributions.set(name, [sum]);
    return sum;
  };
  if (fromWrt.has(loss.name)) contribute(loss.name, onesLike(b, loss));

  for (const node of onPath) {
    const def = opDef(node.opType)!;
    const dys = node.outputs.map((o) => (o && needed.has(o) ? total(o) : undefined));
    if (dys.every((d) => d === undefined) || !def.grad) continue;
    const ctx: GradCtx = {
      b,
      node,
      opset: b.opset,
      x: (i) => {
        const name = node.inputs[i];
        if (!name) throw new GradientError(`node ${node.name} (${node.opType}) has no input ${i}`);
        return b.value(name);
      },
      has: (i) => Boolean(node.inputs[i]),
      y: (j) => b.value(node.outputs[j]!),
      dy: (j) => dys[j],
    };
    let builders;
    try {
      builders = def.grad(ctx);
    } catch (e) {
      throw new GradientError(`node ${node.name} (${node.opType}): ${(e as Error).message}`);
    }
    node.inputs.forEach((name, i) => {
      if (!name || !needed.has(name)) return;
      const build = builders[i];
      if (!build) throw new GradientError(`op ${node.opType} (node ${node.name}) has no gradient for its input ${i} (${name})`);
      let g: Value;
      try {
        g = build();
      } catch (e) {
        throw new GradientError(`node ${node.name} (${node.opType}), gradient of input ${i}: ${(e as Error).message}`);
      }
      const x = b.value(name);
      if (x.meta.shape && g.meta.shape && x.isStatic && g.isStatic && fmtShape(x.shape) !== fmtShape(g.shape)) {
        throw new GradientError(`internal: gradient of ${name} at node ${node.name} (${node.opType}) has shape ${fmtShape(g.shape)}, expected ${fmtShape(x.shape)}`);
      }
      contribute(name, g.dtype === x.dtype ? g : b.cast(g, x.dtype));
    });
  }

  return wrt.map((w) => total(w.name) ?? b.zerosLike(w));
}

export interface GradModelOptions {
  /** Fix dynamic input dims before differentiating (e.g. { pixels: [8, 3, 224, 224] }). */
  inputShapes?: Record<string, (number | string | null)[]>;
  /**
   * Output name prefix for the gradients. Default 'grad_', or on a model that already has such
   * names (a gradient model differentiated again) the first of 'grad2_', 'grad3_', … that is free.
   */
  prefix?: string;
}

/**
 * Returns a model with the original outputs plus `grad_<w>` = d(sum of loss)/d(w) for each w.
 * `wrt` may name graph inputs or initializers. The model may itself be a gradient model: the
 * loss can then be one of its gradients (double backprop).
 */
export function gradientModel(model: Model, lossName: string, wrtNames: string[], opts: GradModelOptions = {}): Model {
  const b = GraphBuilder.fromModel(model, opts.inputShapes);
  if (!model.graph.outputs.some((o) => o.name === lossName) && !b.has(lossName)) {
    throw new GradientError(`loss output ${lossName} not found (outputs: ${model.graph.outputs.map((o) => o.name).join(', ')})`);
  }
  const wrt = wrtNames.map((n) => {
    if (!b.has(n)) throw new GradientError(`wrt ${n} is neither an input nor an initializer of the model`);
    return b.value(n);
  });
  const taken = (p: string) => wrtNames.find((n) => b.has(`${p}${n}`));
  let prefix = opts.prefix ?? 'grad_';
  if (opts.prefix === undefined) for (let k = 2; taken(prefix) !== undefined; k++) prefix = `grad${k}_`;
  else if (taken(prefix) !== undefined) throw new GradientError(`the model already has a value named ${prefix}${taken(prefix)}: choose another prefix`);
  const grads = gradients(b, b.value(lossName), wrt);
  grads.forEach((g, i) => b.output(g, `${prefix}${wrtNames[i]}`));
  const out = b.toModel();
  return { ...out, irVersion: Math.max(model.irVersion, 7), opsets: model.opsets, producerName: 'clipag grad', metadata: model.metadata };
}
