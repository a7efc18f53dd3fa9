/**
 * The data-free starting image. The paper starts from a sample of a Gaussian fitted to
 * Tiny-ImageNet images of one class at 16×16, upsampled to 224 (the one CLIP finds closest to the
 * prompt among 1000). Without that data we draw the same kind of image from a generic prior: a
 * coarse 16×16 lattice with natural-image pixel statistics (mean ≈ 0.45, std ≈ 0.22, channels
 * strongly correlated as in photographs, a per-image colour cast), clamped to [0, 1] and
 * upsampled bilinearly. What it lacks is class structure (rough object/background layouts),
 * which the optimisation then has to find on its own.
 */
import { resampleTaps } from './interp.js';
import { gaussian, rng } from '../random.js';

export interface LowFrequencyNoiseOptions {
  /** Lattice side: the image has no detail finer than size/grid pixels. Default 16, as the paper. */
  grid?: number;
  /** Mean pixel value. Default 0.45 (natural images average a little below mid-grey). */
  mean?: number;
  /** Standard deviation of a lattice value around the image's own colour. Default 0.2. */
  std?: number;
  /** Per-image, per-channel colour cast, uniform in ±colourOffset. Default 0.15. */
  colourOffset?: number;
  /**
   * Correlation between the channels' variations (a shared luminance plus per-channel colour).
   * Default 0.8: RGB channels of natural images correlate at about 0.8–0.95, and independent
   * channels look like saturated confetti rather than a photograph.
   */
  channelCorrelation?: number;
}

export const LOW_FREQUENCY_DEFAULTS: Required<LowFrequencyNoiseOptions> = {
  grid: 16,
  mean: 0.45,
  std: 0.2,
  colourOffset: 0.15,
  channelCorrelation: 0.8,
};

const CHANNELS = 3;

/**
 * One smooth random image [3, size, size] in [0, 1]. Draws, in this order: one `rand()` per
 * channel for the colour cast, then per lattice cell (row-major) one shared and three per-channel
 * `gaussian()` values.
 */
export function lowFrequencyNoise(
  size: number,
  rand: () => number,
  gauss: () => number,
  opts: LowFrequencyNoiseOptions = {},
): Float32Array {
  const o = { ...LOW_FREQUENCY_DEFAULTS, ...opts };
  checkInt('size', size);
  checkInt('grid', o.grid);
  if (!(o.std >= 0) || !(o.colourOffset >= 0)) throw new RangeError('lowFrequencyNoise: std and colourOffset must be ≥ 0');
  if (!(o.channelCorrelation >= 0 && o.channelCorrelation <= 1)) {
    throw new RangeError(`lowFrequencyNoise: channelCorrelation must be in [0, 1], got ${o.channelCorrelation}`);
  }
  const g = o.grid;
  const cast = Array.from({ length: CHANNELS }, () => o.mean + o.colourOffset * (2 * rand() - 1));
  // z_c = √ρ·shared + √(1-ρ)·own keeps each channel's variance 1 with correlation ρ between channels.
  const shared = Math.sqrt(o.channelCorrelation);
  const own = Math.sqrt(1 - o.channelCorrelation);
  const lattice = new Float32Array(CHANNELS * g * g);
  for (let i = 0; i < g * g; i++) {
    const z = gauss();
    for (let c = 0; c < CHANNELS; c++) {
      const v = cast[c]! + o.std * (shared * z + own * gauss());
      // Clamped before upsampling, as the notebook clamps its 16×16 sample: interpolation of
      // values in [0, 1] stays in [0, 1].
      lattice[c * g * g + i] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return upsampleBilinear(lattice, CHANNELS, g, size);
}

/**
 * `count` starting candidates at `size`×`size`, the same for the same seed (a stream of its own,
 * so it does not shift the step's random views).
 */
export function initCandidates(count: number, size: number, seed: number): Float32Array[] {
  checkInt('count', count);
  checkInt('size', size);
  const rand = rng((seed ^ 0x1badb002) >>> 0);
  const gauss = (): number => gaussian(rand);
  return Array.from({ length: count }, () => lowFrequencyNoise(size, rand, gauss));
}

/**
 * F.interpolate(x, size=out, mode='bilinear', align_corners=False) of square planes
 * [channels, inSize, inSize] → [channels, outSize, outSize], with the same per-axis taps the view
 * matrices use (interp.ts): rows first, then columns.
 */
export function upsampleBilinear(src: Float32Array, channels: number, inSize: number, outSize: number): Float32Array {
  if (src.length !== channels * inSize * inSize) {
    throw new RangeError(`upsampleBilinear: ${src.length} values is not ${channels}×${inSize}×${inSize}`);
  }
  const t = resampleTaps(inSize, outSize);
  const rows = new Float64Array(channels * outSize * inSize);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < outSize; y++) {
      const o = (c * outSize + y) * inSize;
      for (let k = t.start[y]!; k < t.start[y + 1]!; k++) {
        const a = (c * inSize + t.index[k]!) * inSize;
        const w = t.weight[k]!;
        for (let x = 0; x < inSize; x++) rows[o + x]! += w * src[a + x]!;
      }
    }
  }
  const out = new Float32Array(channels * outSize * outSize);
  for (let r = 0; r < channels * outSize; r++) {
    const row = r * inSize;
    const o = r * outSize;
    for (let x = 0; x < outSize; x++) {
      let v = 0;
      for (let k = t.start[x]!; k < t.start[x + 1]!; k++) v += t.weight[k]! * rows[row + t.index[k]!]!;
      out[o + x] = v;
    }
  }
  return out;
}

function checkInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}
