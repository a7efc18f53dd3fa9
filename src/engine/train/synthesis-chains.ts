/**
 * Persistent runs of synthesis for the alignment term (`--align-chains`): each slot holds one
 * caption and a picture that climbs toward it a few Adam steps per training step, starting again
 * from grey or synthesis's smooth noise once it has had a whole synthesis's worth of steps. Items
 * taken from the slots pair the picture synthesis actually reached with the direction to the
 * caption's true picture, so the term trains the gradient where synthesis goes, not only on the
 * straight lines from a start to a target: the fix DAgger makes for a policy trained on an expert's
 * states alone. On the issue-17 probe this took held-out one-shape pictures from 5 to 38 % judged
 * correct (models/shapes/MODEL_CARD.md).
 *
 * Chains are not part of a checkpoint: a resumed run starts them afresh (a synthesis's worth of
 * training steps later they are as varied as before).
 */
import { lowFrequencyNoise } from '../pag/init.js';
import { AdamW } from '../pag/optim.js';
import { gaussian, rng } from '../random.js';

export interface ChainOptions {
  /** Pictures kept climbing. */
  slots: number;
  /** Picture side in px. */
  size: number;
  /** Context length of the captions' ids. */
  context: number;
  /** Adam steps a slot takes each time it is visited. */
  stepsPerVisit: number;
  /** Visits before a slot starts again with a new caption (age × stepsPerVisit ≈ a synthesis's steps). */
  age: number;
  /** Adam's step size, in pixel units (synthesis's own, 0.03, by default). */
  lr?: number;
  seed: number;
}

/** Captions to give restarted slots, with their true pictures (a training batch). */
export interface ChainSource<T> {
  /** [n, 3, S, S] */
  pixels: Float32Array;
  /** [n, context] */
  ids: BigInt64Array;
  /** Anything else a slot should carry with its caption (the batch's scenes), returned with its items. */
  tags?: readonly T[];
}

/** d(loss)/d(pixels) of n pictures against their captions: the loss synthesis descends. */
export type ChainGradient = (pixels: Float32Array, ids: BigInt64Array) => Promise<Float32Array>;

export interface ChainItems<T> {
  /** [n, 3, S, S] where the chains are now. */
  pixels: Float32Array;
  /** [n, context] their captions. */
  ids: BigInt64Array;
  /** [n, 3, S, S] their captions' true pictures. */
  truth: Float32Array;
  /** [n, 3, S, S] truth − pixels. */
  direction: Float32Array;
  /** Each item's tag, as its caption's source gave it. */
  tags: (T | undefined)[];
  /** How many of the items started afresh this visit. */
  restarted: number;
}

const GREY = 0.5;

export class SynthesisChains<T = undefined> {
  private readonly picture: number;
  private readonly x: Float32Array;
  private readonly ids: BigInt64Array;
  private readonly truth: Float32Array;
  private readonly visits: Int32Array;
  private readonly tags: (T | undefined)[];
  private next = 0;
  private readonly rand: () => number;

  constructor(private readonly o: ChainOptions) {
    for (const k of ['slots', 'size', 'context', 'stepsPerVisit', 'age'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`SynthesisChains: ${k} must be a whole number ≥ 1, got ${o[k]}`);
    }
    if (o.lr !== undefined && !(o.lr > 0 && Number.isFinite(o.lr))) throw new RangeError(`SynthesisChains: lr must be > 0, got ${o.lr}`);
    this.picture = 3 * o.size * o.size;
    this.x = new Float32Array(o.slots * this.picture);
    this.ids = new BigInt64Array(o.slots * o.context);
    this.truth = new Float32Array(o.slots * this.picture);
    // Every slot is due for a start at its first visit.
    this.visits = new Int32Array(o.slots).fill(o.age);
    this.tags = new Array<T | undefined>(o.slots).fill(undefined);
    this.rand = rng(o.seed);
  }

  /**
   * Visits the next n slots in turn: a slot that has had `age` visits starts again (a caption drawn
   * from `source`, a grey or smooth-noise picture), then each moves `stepsPerVisit` Adam steps down
   * `grad` (a fresh Adam per visit, as the probe's chains), clamped to [0, 1].
   */
  async advance(n: number, source: ChainSource<T>, grad: ChainGradient): Promise<ChainItems<T>> {
    const { slots, context: ctx } = this.o;
    const P = this.picture;
    const count = source.ids.length / ctx;
    if (!Number.isInteger(n) || n < 1 || n > slots) throw new RangeError(`SynthesisChains.advance: n must be a whole number in 1..${slots}, got ${n}`);
    if (!Number.isInteger(count) || count < 1 || source.pixels.length < count * P || source.ids.length < count * ctx) {
      throw new RangeError(`SynthesisChains.advance: the source must hold ${count} pictures of ${P} values and ${count} captions of ${ctx} ids`);
    }
    const taken = Array.from({ length: n }, (_, i) => (this.next + i) % slots);
    this.next = (this.next + n) % slots;
    let restarted = 0;
    for (const s of taken) {
      if (this.visits[s]! < this.o.age) continue;
      this.restart(s, source, count);
      restarted++;
    }
    const x = new Float32Array(n * P);
    const ids = new BigInt64Array(n * ctx);
    taken.forEach((s, i) => {
      x.set(this.x.subarray(s * P, (s + 1) * P), i * P);
      ids.set(this.ids.subarray(s * ctx, (s + 1) * ctx), i * ctx);
    });
    const adam = new AdamW(n * P, { lr: this.o.lr ?? 0.03, weightDecay: 0 });
    for (let k = 0; k < this.o.stepsPerVisit; k++) {
      const g = await grad(x, ids);
      if (g.length !== x.length) throw new RangeError(`SynthesisChains: the gradient has ${g.length} values for ${x.length} pixels`);
      adam.step(x, g);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! < 0 ? 0 : x[i]! > 1 ? 1 : x[i]!;
    }
    const truth = new Float32Array(n * P);
    taken.forEach((s, i) => {
      this.x.set(x.subarray(i * P, (i + 1) * P), s * P);
      truth.set(this.truth.subarray(s * P, (s + 1) * P), i * P);
      this.visits[s]!++;
    });
    const direction = truth.map((t, k) => t - x[k]!);
    return { pixels: x, ids, truth, direction, tags: taken.map((s) => this.tags[s]), restarted };
  }

  private restart(s: number, source: ChainSource<T>, count: number): void {
    const P = this.picture;
    const ctx = this.o.context;
    const j = Math.floor(this.rand() * count);
    this.ids.set(source.ids.subarray(j * ctx, (j + 1) * ctx), s * ctx);
    this.truth.set(source.pixels.subarray(j * P, (j + 1) * P), s * P);
    this.tags[s] = source.tags?.[j];
    const x = this.x.subarray(s * P, (s + 1) * P);
    if (this.rand() < 0.5) x.fill(GREY);
    else x.set(lowFrequencyNoise(this.o.size, this.rand, () => gaussian(this.rand)));
    this.visits[s] = 0;
  }
}
