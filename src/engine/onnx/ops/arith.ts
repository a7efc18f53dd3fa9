import { attrInt } from '../ir.js';
import { register } from '../registry.js';
import type { OpDef } from '../types.js';
import { isFloat, type Tensor } from '../tensor.js';
import { broadcastShapes, needShape, unbroadcast } from './util.js';
import { mapBroadcast } from './fold.js';

/** Add, Sub, Mul, Div and Neg: d(a∘b) by the product and quotient rules, summed back over broadcast axes. */
function binary(type: string, fn: (a: number, b: number) => number, grad: OpDef['grad']): OpDef {
  return {
    type,
    infer: ({ inputs: [a, b] }) => [{ dtype: a!.dtype, shape: broadcastShapes(needShape(a, 'input A'), needShape(b, 'input B')) }],
    fold: ([a, b]) => [mapBroadcast([a!, b!], a!.dtype, isFloat(a!.dtype) ? fn : (x, y) => Math.trunc(fn(x, y)))],
    grad,
  };
}

register(
  binary('Add', (a, b) => a + b, ({ x, dy, b }) => [
    () => unbroadcast(b, dy(0)!, x(0)),
    () => unbroadcast(b, dy(0)!, x(1)),
  ]),
  binary('Sub', (a, b) => a - b, ({ x, dy, b }) => [
    () => unbroadcast(b, dy(0)!, x(0)),
    () => unbroadcast(b, dy(0)!.neg(), x(1)),
  ]),
  binary('Mul', (a, b) => a * b, ({ x, dy, b }) => [
    () => unbroadcast(b, dy(0)!.mul(x(1)), x(0)),
    () => unbroadcast(b, dy(0)!.mul(x(0)), x(1)),
  ]),
  // d(a/b)/db = -a/b² = -y/b
  binary('Div', (a, b) => a / b, ({ x, y, dy, b }) => [
    () => unbroadcast(b, dy(0)!.div(x(1)), x(0)),
    () => unbroadcast(b, dy(0)!.mul(y(0)).div(x(1)).neg(), x(1)),
  ]),
  {
    // Integer index arithmetic (pooling gradients use it); carries no gradient.
    type: 'Mod',
    infer: ({ inputs: [a, b] }) => [{ dtype: a!.dtype, shape: broadcastShapes(needShape(a, 'input A'), needShape(b, 'input B')) }],
    fold: ([a, b], node) => {
      const fmod = attrInt(node, 'fmod', 0) === 1;
      // fmod=0 takes the sign of the divisor (Python's %), fmod=1 that of the dividend (C's fmod).
      return [mapBroadcast([a!, b!], a!.dtype, (x, y) => (fmod ? x % y : ((x % y) + y) % y))];
    },
  },
  {
    type: 'Neg',
    infer: ({ inputs: [a] }) => [{ dtype: a!.dtype, shape: a!.shape }],
    fold: ([a]) => [mapBroadcast([a!], a!.dtype, (v) => -v)],
    grad: ({ dy }) => [() => dy(0)!.neg()],
  },
  {
    type: 'Sum',
    infer: ({ inputs }) => [{ dtype: inputs[0]!.dtype, shape: broadcastShapes(...inputs.map((m, i) => needShape(m, `input ${i}`))) }],
    fold: (inputs) => [mapBroadcast(inputs as Tensor[], inputs[0]!.dtype, (...v) => v.reduce((a, c) => a + c, 0))],
    grad: ({ node, x, dy, b }) => node.inputs.map((_, i) => () => unbroadcast(b, dy(0)!, x(i))),
  },
  {
    type: 'Identity',
    infer: ({ inputs: [a] }) => [{ dtype: a!.dtype, shape: a!.shape }],
    fold: ([a]) => [a!],
    grad: ({ dy }) => [() => dy(0)!],
  },
);
