import { attrInt } from '../ir.js';
import type { GraphBuilder, Value } from '../builder.js';
import { register } from '../registry.js';
import { isFloat, type DType, type Tensor } from '../tensor.js';
import type { InferCtx, Meta, OpDef } from '../types.js';
import { mapBroadcast } from './fold.js';
import { foldable } from './unary.js';
import { broadcastShapes, needShape, unbroadcast } from './util.js';

/** Output shape of a broadcasting op over all its inputs; dtype given, or input 0's. */
function broadcastInfer(dtype?: DType) {
  return ({ inputs }: InferCtx): Meta[] => [{
    dtype: dtype ?? inputs[0]!.dtype,
    shape: broadcastShapes(...inputs.map((m, i) => needShape(m, `input ${i}`))),
  }];
}

/**
 * Elementwise fold over broadcast known inputs; integer outputs truncate like ONNX integer math,
 * and one that is not finite (0 to a negative power) is left to the runtime.
 */
function foldBroadcast(outDtype: ((inputs: Tensor[]) => DType) | DType, fn: (...v: number[]) => number) {
  return (inputs: (Tensor | undefined)[]): Tensor[] => {
    const ts = inputs as Tensor[];
    if (!ts.every(foldable)) return [];
    const dtype = typeof outDtype === 'string' ? outDtype : outDtype(ts);
    if (isFloat(dtype) || dtype === 'bool') return [mapBroadcast(ts, dtype, fn)];
    let finite = true;
    const t = mapBroadcast(ts, dtype, (...v) => {
      const r = Math.trunc(fn(...v));
      finite &&= Number.isFinite(r);
      return Number.isFinite(r) ? r : 0;
    });
    return finite ? [t] : [];
  };
}

const firstDtype = (ts: Tensor[]): DType => ts[0]!.dtype;
const bit = (c: boolean): number => (c ? 1 : 0);

/** A comparison or logic op: bool output of the broadcast shape, no gradient. */
function predicate(type: string, fn: (...v: number[]) => boolean): OpDef {
  return { type, infer: broadcastInfer('bool'), fold: foldBroadcast('bool', (...v) => bit(fn(...v))) };
}

/** 1 where x equals y (the inputs that won a Min or Max), in y's float type. */
function winnerMask(b: GraphBuilder, x: Value, y: Value): Value {
  return b.cast(b.op1('Equal', [x, y]), y.dtype);
}

register(
  {
    type: 'Pow',
    infer: broadcastInfer(),
    fold: foldBroadcast(firstDtype, Math.pow),
    grad: ({ b, x, y, dy }) => [
      // d(aᵇ)/da = b·a^(b−1); the exponent may be an integer tensor (Pow-12 types it separately).
      () => {
        const a = x(0);
        const e = b.cast(x(1), a.dtype);
        return unbroadcast(b, dy(0)!.mul(e).mul(a.pow(e.sub(1))), a);
      },
      // d(aᵇ)/db = aᵇ·log a (defined for a > 0).
      () => unbroadcast(b, dy(0)!.mul(y(0)).mul(x(0).log()), x(1)),
    ],
  },
  // Min/Max: the gradient goes to every input equal to the output (ties each get all of it).
  ...(['Min', 'Max'] as const).map((type): OpDef => ({
    type,
    infer: broadcastInfer(),
    fold: foldBroadcast(firstDtype, type === 'Min' ? Math.min : Math.max),
    grad: ({ b, node, x, y, dy }) =>
      node.inputs.map((_, i) => () => unbroadcast(b, dy(0)!.mul(winnerMask(b, x(i), y(0))), x(i))),
  })),
  {
    type: 'Where',
    infer: ({ inputs: [c, a, e] }) => [{
      dtype: a!.dtype,
      shape: broadcastShapes(needShape(c, 'condition'), needShape(a, 'X'), needShape(e, 'Y')),
    }],
    fold: foldBroadcast((ts) => ts[1]!.dtype, (c, a, e) => (c ? a : e)),
    // Each branch gets dy where it was chosen; the condition gets nothing.
    grad: ({ b, x, dy }) => {
      const zero = () => b.scalar(0, dy(0)!.dtype);
      return [
        undefined,
        () => unbroadcast(b, b.op1('Where', [x(0), dy(0)!, zero()]), x(1)),
        () => unbroadcast(b, b.op1('Where', [x(0), zero(), dy(0)!]), x(2)),
      ];
    },
  },
  predicate('Equal', (a, c) => a === c),
  predicate('Greater', (a, c) => a > c),
  predicate('Less', (a, c) => a < c),
  predicate('GreaterOrEqual', (a, c) => a >= c),
  predicate('LessOrEqual', (a, c) => a <= c),
  predicate('Not', (a) => a === 0),
  predicate('And', (a, c) => a !== 0 && c !== 0),
  predicate('Or', (a, c) => a !== 0 || c !== 0),
  predicate('Xor', (a, c) => (a !== 0) !== (c !== 0)),
  predicate('IsNaN', (a) => Number.isNaN(a)),
  {
    type: 'IsInf',
    infer: broadcastInfer('bool'),
    fold: ([x], node) => {
      const neg = attrInt(node, 'detect_negative', 1) === 1;
      const pos = attrInt(node, 'detect_positive', 1) === 1;
      return foldBroadcast('bool', (v) => bit((pos && v === Infinity) || (neg && v === -Infinity)))([x]);
    },
  },
);
