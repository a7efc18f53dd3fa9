/**
 * The vocabulary the tower builders share (configs of the image-tower kinds, the text tower's,
 * how parameters are asked for) and the one layer both towers use, in a module of its own so that
 * towers.ts (which dispatches on the kind) and tower-resnet.ts do not import each other.
 */
import type { Value } from '../onnx/builder.js';

export type Activation = 'gelu' | 'quick_gelu';

/** open_clip VisionTransformer. `kind` is absent in configs written before ResNets existed. */
export interface VitConfig {
  kind?: 'vit';
  imageSize: number;
  patchSize: number;
  width: number;
  layers: number;
  heads: number;
  outputDim: number;
  act: Activation;
}

/**
 * open_clip ModifiedResNet (OpenAI's RN50 family): `width` is the stem's output channels (64 for
 * RN50), `layers` the Bottleneck blocks of the four stages, `heads` the attention pool's
 * (open_clip: width·32 / head_width). It has no activation choice (ReLU) and no patches: `act` is
 * always absent and `patchSize`, if present, is ignored; both are declared so that code reading or
 * spreading a ViT's fields over any VisionConfig still type-checks.
 */
export interface ResNetConfig {
  kind: 'resnet';
  imageSize: number;
  width: number;
  layers: [number, number, number, number];
  heads: number;
  outputDim: number;
  patchSize?: number;
  /**
   * open_clip's ModifiedResNet always uses ReLU (absent or 'relu'). 'gelu' is a clipag extension,
   * recorded in a pack's clipag.json: smooth activations give smoother input gradients, which the
   * demo model's gradient-alignment training needs (models/shapes/MODEL_CARD.md).
   */
  act?: 'relu' | 'gelu';
}

/** One layer of ConvConfig's stack. */
export interface ConvLayer {
  channels: number;
  kernel: number;
  stride: number;
}

/**
 * clipag's conv tower (tower-conv.ts), not in open_clip's family: a stack of convolutions with
 * GroupNorm and GELU, a 1×1 convolution to `headChannels`, and the flattened map into one linear
 * layer. `act` is always GELU and `patchSize` is ignored; both are declared for the same reason as
 * ResNetConfig's.
 */
export interface ConvConfig {
  kind: 'conv';
  imageSize: number;
  convs: ConvLayer[];
  /** GroupNorm's groups after every convolution of the stack. */
  groups: number;
  headChannels: number;
  outputDim: number;
  patchSize?: number;
  act?: 'gelu';
}

export type VisionConfig = VitConfig | ResNetConfig | ConvConfig;

export const isResNet = (v: VisionConfig): v is ResNetConfig => v.kind === 'resnet';
export const isConv = (v: VisionConfig): v is ConvConfig => v.kind === 'conv';
/** open_clip's VisionTransformer: configs written before other kinds existed have no `kind`. */
export const isVit = (v: VisionConfig): v is VitConfig => v.kind === undefined || v.kind === 'vit';

export interface TextConfig {
  contextLength: number;
  vocabSize: number;
  width: number;
  layers: number;
  heads: number;
  outputDim: number;
  act: Activation;
}

/** A parameter by its open_clip state-dict name and expected shape, as a value of the graph. */
export type Weights = (name: string, shape: number[]) => Value;

export interface VisionTowerOptions {
  /**
   * ResNet only: normalise every BatchNorm with the batch's own statistics (training mode) instead
   * of the running ones, and report each layer's batch mean and unbiased variance ([C] each) under
   * its state-dict prefix (`visual.layer1.0.bn1`), so the trainer can update the running buffers.
   */
  batchStats?: BatchStatsSink;
  /**
   * ResNet only: its nonlinearity, ReLU unless given. Tests put a smooth one here, since finite
   * differences of a second derivative are not defined where a ReLU switches on or off.
   */
  activation?: (x: Value) => Value;
}

export type BatchStatsSink = (bnName: string, mean: Value, variance: Value) => void;

/** torch.nn.Linear: y = x·Wᵀ + b, W stored [out, in]. */
export function linear(x: Value, w: Weights, name: string, inDim: number, outDim: number): Value {
  const weight = w(`${name}.weight`, [outDim, inDim]);
  return x.matmul(weight.transpose([1, 0])).add(w(`${name}.bias`, [outDim]));
}

/** Exact GELU, x·Φ(x) = x·½·(1 + erf(x/√2)); written out because the Gelu op only exists from opset 20. */
export function gelu(x: Value): Value {
  return x.mul(x.mul(Math.SQRT1_2).erf().add(1).mul(0.5));
}
