/**
 * What the job manager needs from the synthesis engine, and the real one over a model pack. The
 * manager sees only this interface; the bot's tests run the real implementation on a small pack.
 */
import type { Logger } from 'pino';
import type { RgbImage } from '../engine/clip/image.js';
import { writeRgbPng } from '../engine/clip/image-write.js';
import { ClipModel } from '../engine/pack/model.js';
import { imagine, ImagineAborted, ImagineInputError } from '../engine/pag/imagine.js';
import { resolveSettings, recipeFor } from '../engine/pag/recipe.js';
import { refineRecipe, upscale, upscaledSide } from '../engine/pag/upscale.js';
import { resolveConcepts, type ConceptList } from '../engine/safety/concepts.js';
import { safetyDefaults } from '../engine/safety/defaults.js';
import { screen as screenPicture, type SafetyVerdict } from '../engine/safety/screen.js';
import { log as defaultLog } from '../log.js';
import { picturePaths } from './pictures.js';
import { warmUp } from './warm-up.js';

export interface EngineInfo {
  /** The pack's name (clipag.json). */
  model: string;
  /** Where the engine actually runs: 'cuda' or 'cpu' (after any fallback). */
  device: string;
  /** The model's input side; the default canvas. */
  imageSize: number;
  /** Steps a request gets when it names none. */
  defaultSteps: number;
  /** Steps an upscale gets: a short refinement (pag/upscale.ts). */
  upscaleSteps: number;
}

export interface EngineRequest {
  prompt: string;
  negative?: string;
  steps?: number;
  size?: number;
  seed?: number;
  /** An image file to start from (variations, uploads; an upscale's picture). */
  init?: string;
  /** Pictures optimised together and saved as a grid (1–4). */
  count?: number;
  /** Enlarge `init` ×2 and refine it (size is then the enlarged side). */
  upscale?: boolean;
}

export interface EngineProgress {
  step: number;
  steps: number;
  /** The current canvas, every `progressEvery` steps and on the last step. */
  image?: RgbImage;
  elapsedMs: number;
}

export interface EngineRunOptions {
  signal: AbortSignal;
  /** Where the result PNG goes; written atomically, so a crash never leaves half a file. */
  out: string;
  onProgress?: (p: EngineProgress) => void;
  /** An image with progress every k steps (default 1). */
  progressEvery?: number;
  /** The job's id: the shared queue's engine names its job after it, so a restarted bot finds it again. */
  jobId?: string;
  /**
   * 1 for a member's only running job, n for their n-th: the shared queue serves lower first, so
   * jobs handed out by several bot processes (shards) stay fair between members there too.
   */
  priority?: number;
}

export interface EngineResult {
  /** The result: the picture, or a grid of the pictures. */
  pngPath: string;
  /** Each picture's own PNG (for one picture, pngPath). */
  pictures: string[];
  score: number;
  seed: number;
  steps: number;
  ms: number;
  msPerStep: number;
}

export interface Engine {
  info(): EngineInfo;
  /**
   * Throws JobInputError (a one-line message for the member) when the request cannot run: an option
   * out of the model's range, a word the model's tokenizer does not know. Cheap: no synthesis.
   */
  check(request: EngineRequest): Promise<void>;
  /** Runs one request; rejects with JobAborted when `signal` fires. */
  run(request: EngineRequest, opts: EngineRunOptions): Promise<EngineResult>;
  /**
   * Screens a finished picture and its prompt with this model's CLIP against a server's concept
   * list, resolved over this model's default concepts and thresholds (engine/safety). Optional only
   * so that stand-in engines in tests need not implement it; openEngine's does.
   */
  screen?(pngPath: string, prompt: string, concepts: ConceptList): Promise<SafetyVerdict>;
  close(): Promise<void>;
}

/** A request the member must change: the message says what, in one line. */
export class JobInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobInputError';
  }
}

/**
 * Whether an aborted run's signal says the process is stopping (the job resumes at the next start)
 * rather than that a member cancelled it: the job manager aborts with { kind: 'shutdown' }.
 */
export const isShutdown = (reason: unknown): boolean =>
  typeof reason === 'object' && reason !== null && (reason as { kind?: unknown }).kind === 'shutdown';

/** A run stopped through its AbortSignal. */
export class JobAborted extends Error {
  constructor() {
    super('cancelled');
    this.name = 'JobAborted';
  }
}

export interface OpenEngineOptions {
  modelDir: string;
  device?: 'auto' | 'cuda' | 'cpu';
  logger?: Logger;
  /** Views per step for every run (default: the pack's recipe). Tests use 2 to stay fast. */
  views?: number;
  /** Threads inside one op (default: one per core); 1 lets several workers share a CPU fairly. */
  threads?: number;
}

/** The tokenizer reports an unknown word as a plain Error: the member's words, so their problem to fix. */
const isUnknownWord = (e: unknown): e is Error => e instanceof Error && /^unknown words? /.test(e.message);

/** Engine errors the member caused, as JobInputError; anything else unchanged. */
function asInputError(e: unknown): unknown {
  if (e instanceof ImagineInputError) return new JobInputError(e.message);
  if (isUnknownWord(e)) return new JobInputError(e.message.split('\n')[0]!);
  return e;
}

/** What can be known of a pack without loading it: enough to check a request before it is queued. */
export interface PackChecker {
  info(): Omit<EngineInfo, 'device'>;
  /** As Engine.check: a JobInputError with a one-line reason when the request cannot run. */
  check(request: EngineRequest): Promise<void>;
  close(): Promise<void>;
}

/**
 * Reads a pack's manifest, weight header and tokenizer, and no tensor: cheap enough to do for every
 * pack at start, so a request naming a model that is not loaded yet is still checked at once.
 */
export async function openPackChecker(modelDir: string, views?: number): Promise<PackChecker> {
  const model = await ClipModel.open(modelDir, { device: 'cpu' });
  return checkerOf(model, views);
}

function checkerOf(model: ClipModel, views: number | undefined): PackChecker {
  const recipe = recipeFor(model.manifest);
  const info = {
    model: model.manifest.name, imageSize: model.config.vision.imageSize, defaultSteps: recipe.steps, upscaleSteps: refineRecipe(recipe).steps!,
  };
  return {
    info: () => ({ ...info }),
    async check(req) {
      try {
        const { upscale: enlarging, init: _init, ...rest } = req;
        // An upscale's size is the enlarged side: the source picture's must double into the model's range.
        if (enlarging && req.size !== undefined) upscaledSide(req.size / 2, info.imageSize);
        resolveSettings({ ...rest, views }, recipe, info.imageSize);
        if (req.negative !== undefined && req.negative.trim() === '') {
          throw new ImagineInputError('the negative prompt is empty: leave it out or describe what to avoid');
        }
        // Tokenizing is what finds unknown words; it is cheap (no tower runs).
        await model.tokenize(req.negative === undefined ? [req.prompt] : [req.prompt, req.negative]);
      } catch (e) {
        throw asInputError(e);
      }
    },
    close: () => model.close(),
  };
}

/**
 * Opens the pack and compiles its vision tower once, so the device it really runs on (CUDA, or CPU
 * after a fallback) is known before the first job and a broken pack fails at start, not mid-job;
 * then compiles what a default job needs (warm-up.ts).
 */
export async function openEngine(o: OpenEngineOptions): Promise<Engine> {
  const logger = o.logger ?? defaultLog;
  const model = await ClipModel.open(o.modelDir, { device: o.device ?? 'auto', logger, ...(o.threads ? { intraOpThreads: o.threads } : {}) });
  let device: string;
  try {
    device = (await model.session('vision')).provider;
  } catch (e) {
    await model.close();
    throw e;
  }
  const checker = checkerOf(model, o.views);
  const info: EngineInfo = { ...checker.info(), device };
  // The first job would otherwise compile its step graph on the main thread, holding up every
  // other interaction (and its 3-second acknowledgement) meanwhile.
  const warmStart = performance.now();
  let warmed: string[];
  try {
    warmed = await warmUp(model, o.views);
  } catch (e) {
    await model.close();
    throw e;
  }
  logger.info({ model: info.model, device, dir: o.modelDir, warmed, warmMs: Math.round(performance.now() - warmStart) }, 'engine ready');

  return {
    info: () => ({ ...info }),
    check: (req) => checker.check(req),

    async run(req, opts) {
      try {
        const runOpts = {
          signal: opts.signal,
          progressEvery: opts.progressEvery ?? 1,
          onProgress: opts.onProgress && ((p: { step: number; steps: number; image?: RgbImage; elapsedMs: number }) => opts.onProgress!({ step: p.step, steps: p.steps, image: p.image, elapsedMs: p.elapsedMs })),
          onNote: (m: string) => logger.debug({ note: m }, 'imagine note'),
        };
        const { upscale: enlarging, size: _size, count, ...rest } = req;
        const r = enlarging
          ? await upscale(model, { prompt: req.prompt, negative: req.negative, image: req.init ?? '', steps: req.steps, seed: req.seed, views: o.views }, runOpts)
          : await imagine(model, { ...rest, size: req.size, count, views: o.views }, runOpts);
        const n = r.pictures.length;
        // The pictures first: a result file on disk means the whole result is there.
        const pictures = picturePaths(opts.out, n);
        if (n > 1) for (const [i, p] of r.pictures.entries()) await writeRgbPng(p.image, pictures[i]!);
        await writeRgbPng(r.image, opts.out);
        return { pngPath: opts.out, pictures, score: r.score, seed: r.seed, steps: r.steps, ms: r.ms, msPerStep: r.msPerStep };
      } catch (e) {
        if (e instanceof ImagineAborted) throw new JobAborted();
        throw asInputError(e);
      }
    },

    async screen(pngPath, prompt, list) {
      return screenPicture(model, { image: pngPath, prompt, concepts: resolveConcepts(await safetyDefaults(model), list) });
    },

    close: () => model.close(),
  };
}
