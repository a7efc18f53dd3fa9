/**
 * A separable Gaussian blur of planes [C, H, W], edges clamped. Synthesis may low-pass the canvas
 * gradient with it (recipe key gradBlur) before the optimiser sees it: Adam scales every pixel's
 * step alike, so a gradient whose perceptual part is smooth but which carries a faint
 * high-frequency pattern (a strided convolution's checkerboard) would otherwise paint the pattern
 * as boldly as the picture.
 */

/** Normalised taps of a Gaussian of standard deviation `sigma` px, out to 3σ. */
export function gaussianTaps(sigma: number): Float32Array {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`blur sigma must be a number > 0, got ${sigma}`);
  const r = Math.max(1, Math.ceil(3 * sigma));
  const taps = new Float32Array(2 * r + 1);
  let sum = 0;
  for (let k = -r; k <= r; k++) sum += taps[k + r] = Math.exp(-(k * k) / (2 * sigma * sigma));
  for (let i = 0; i < taps.length; i++) taps[i]! /= sum;
  return taps;
}

/** `planes` [C, H, W] blurred in place (rows, then columns). */
export function gaussianBlur(planes: Float32Array, channels: number, height: number, width: number, sigma: number): void {
  if (planes.length !== channels * height * width) throw new RangeError(`blur: ${planes.length} values is not ${channels}×${height}×${width}`);
  const taps = gaussianTaps(sigma);
  const r = (taps.length - 1) / 2;
  const line = new Float32Array(Math.max(height, width));
  const pass = (count: number, length: number, at: (i: number, j: number) => number): void => {
    for (let i = 0; i < count; i++) {
      for (let j = 0; j < length; j++) line[j] = planes[at(i, j)]!;
      for (let j = 0; j < length; j++) {
        let s = 0;
        for (let k = -r; k <= r; k++) s += taps[k + r]! * line[Math.min(length - 1, Math.max(0, j + k))]!;
        planes[at(i, j)] = s;
      }
    }
  };
  const plane = height * width;
  pass(channels * height, width, (i, j) => i * width + j);
  pass(channels * width, height, (i, j) => Math.floor(i / width) * plane + j * width + (i % width));
}
