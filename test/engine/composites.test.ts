/**
 * Gradients of small networks made of several op families, against finite differences: the rules
 * are tested one by one beside their files; these catch what only shows when they are chained
 * (shapes handed from one rule to the next, broadcasting of biases, values used twice).
 *
 * float64 where ORT's CPU provider has every kernel involved; Conv, ConvTranspose,
 * GlobalAveragePool and Erf only exist in float32 there, so those cases run in float32.
 */
import { test } from 'node:test';
import { A, type GraphBuilder, type Value } from '../../src/engine/onnx/builder.js';
import { gradCheck, randn, rng } from '../../src/engine/onnx/testing/gradcheck.js';
import { causalMask, gelu, linear, quickGelu, randomWeights, residualBlock, type Activation, type Weights } from '../../src/engine/clip/towers.js';

const scaled = (seed: number, n: number, s: number) => randn(rng(seed), n).map((v) => v * s);

// ---------------------------------------------------------------------------------------------
// A 2-layer MLP: Linear (MatMul + Add, weight [out,in] as nn.Linear) → GELU → Linear (Gemm, transB).

function mlp(b: GraphBuilder, v: Record<string, Value>, act: (x: Value) => Value): Value {
  const h = act(v.x!.matmul(v.w1!.transpose([1, 0])).add(v.b1!));
  return b.op1('Gemm', [h, v.w2!, v.b2!], { transB: A.int(1) });
}

const mlpInputs = (seed: number) => [
  { name: 'x', dims: [3, 4] },
  { name: 'w1', dims: [5, 4], values: scaled(seed, 20, 0.5) },
  { name: 'b1', dims: [5] },
  { name: 'w2', dims: [2, 5], values: scaled(seed + 1, 10, 0.5) },
  { name: 'b2', dims: [2] },
];

test('MLP with exact GELU: gradients for the input and every weight (float32: Erf)', () =>
  gradCheck({ dtype: 'float32', inputs: mlpInputs(11), build: (b, v) => mlp(b, v, (x) => gelu(b, x)) }));

test('MLP with QuickGELU: gradients for the input and every weight (float64)', () =>
  gradCheck({ inputs: mlpInputs(12), build: (b, v) => mlp(b, v, quickGelu) }));

// ---------------------------------------------------------------------------------------------
// A small conv net: Conv → Relu → MaxPool → Conv → GlobalAveragePool → Gemm.

test('conv net: gradients for the image and every weight (float32: Conv)', () =>
  gradCheck({
    dtype: 'float32',
    // A smaller step than float32's default: with eps = 1e-2 a MaxPool window whose two largest
    // values are that close swaps winners inside the difference quotient (seen at seed 5, x[250]).
    // The loss is ~40, so float32 rounding adds ~2e-3 at this step, under the tolerance.
    eps: 1e-3,
    seed: 5,
    inputs: [
      { name: 'x', dims: [2, 2, 8, 8] },
      { name: 'k1', dims: [3, 2, 3, 3], values: scaled(21, 54, 0.4) },
      { name: 'c1', dims: [3] },
      { name: 'k2', dims: [4, 3, 3, 3], values: scaled(22, 108, 0.4) },
      { name: 'fc', dims: [3, 4] },
      { name: 'fcb', dims: [3] },
    ],
    build: (b, v) => {
      const conv = (x: Value, k: Value, bias?: Value) =>
        b.op1('Conv', bias ? [x, k, bias] : [x, k], { kernel_shape: A.ints([3, 3]), pads: A.ints([1, 1, 1, 1]) });
      const h = b.op1('MaxPool', [conv(v.x!, v.k1!, v.c1!).relu()], { kernel_shape: A.ints([2, 2]), strides: A.ints([2, 2]) });
      const pooled = b.op1('GlobalAveragePool', [conv(h, v.k2!)]).reshape([2, 4]);
      return b.op1('Gemm', [pooled, v.fc!, v.fcb!], { transB: A.int(1) });
    },
  }));

// ---------------------------------------------------------------------------------------------
// A pre-LN transformer block (open_clip ResidualAttentionBlock, from towers.ts): LayerNormalization,
// multi-head attention (MatMul, Split, Reshape, Transpose, Softmax), MLP with GELU, two residuals.

const WIDTH = 8;
const IN_PROJ = 'blk.attn.in_proj_weight';

/** The in-projection comes from the graph input under test; the rest are random initializers. */
function blockWeights(b: GraphBuilder, v: Record<string, Value>): Weights {
  const rest = randomWeights(b, { seed: 3, std: 0.3, dtype: v.x!.dtype });
  return (name, shape) => (name === IN_PROJ ? v.inProj! : rest(name, shape));
}

function blockCase(act: Activation, causal: boolean) {
  return (b: GraphBuilder, v: Record<string, Value>) => {
    const mask = causal ? causalMask(b, 5, v.x!.dtype) : undefined;
    return residualBlock(b, v.x!, blockWeights(b, v), 'blk', { width: WIDTH, heads: 2, act }, mask);
  };
}

const blockInputs = [
  { name: 'x', dims: [2, 5, WIDTH] },
  { name: 'inProj', dims: [3 * WIDTH, WIDTH], values: scaled(31, 3 * WIDTH * WIDTH, 0.4) },
];

test('transformer block with GELU: gradients for the input and the in-projection (float32: Erf)', () =>
  gradCheck({ dtype: 'float32', inputs: blockInputs, build: blockCase('gelu', false) }));

test('transformer block with QuickGELU: gradients for the input and the in-projection (float64)', () =>
  gradCheck({ inputs: blockInputs, build: blockCase('quick_gelu', false) }));

test('causal transformer block: gradients stay finite and exact under the additive mask (float64)', () =>
  gradCheck({ inputs: blockInputs, build: blockCase('quick_gelu', true) }));

test('two blocks sharing the input (residual fan-out across blocks) and linear head (float64)', () =>
  gradCheck({
    inputs: blockInputs,
    build: (b, v) => {
      const w = blockWeights(b, v);
      const cfg = { width: WIDTH, heads: 4, act: 'quick_gelu' as const };
      const h = residualBlock(b, residualBlock(b, v.x!, w, 'blk', cfg), w, 'blk2', cfg);
      return linear(h, w, 'head', WIDTH, 3);
    },
  }));
