/**
 * Engines for several model packs behind one queue. Every pack is checkable at once (its checker
 * reads only the manifest and tokenizer); its engine is opened on first use and kept warm while the
 * warm ones fit in the memory budget (MODEL_MEMORY_MB), the least recently used idle one closed
 * first. An engine with a job running is never closed under it.
 */
import type { Logger } from 'pino';
import { log as defaultLog } from '../log.js';
import type { Engine, EngineInfo, EngineRequest, PackChecker } from './engine.js';
import { packKey, type PackInfo } from './packs.js';

/** An engine lent to one job; release() once the job is over (idempotent). */
export interface Lease {
  engine: Engine;
  release(): void;
}

/** What the job manager and the bot need of the engines; one model or many. */
export interface Engines {
  /** The model a request gets when neither it nor its server names one. */
  readonly defaultModel: string;
  /** Every model, the default first. */
  list(): readonly PackInfo[];
  /** By name, without regard to case. */
  find(name: string): PackInfo | undefined;
  /** Limits-relevant facts, loaded or not (device is known only once loaded). */
  info(model: string): EngineInfo;
  check(model: string, request: EngineRequest): Promise<void>;
  acquire(model: string): Promise<Lease>;
  /** Which engines are warm now, for /info. */
  warm(): { model: string; device: string; running: number }[];
  /**
   * True when runs happen outside this process (remote workers): a bot that stops or dies neither
   * stops nor restarts them, and its next start picks each one up again where it is.
   */
  readonly runsElsewhere?: boolean;
  close(): Promise<void>;
}

export interface PoolPack {
  pack: PackInfo;
  checker: PackChecker;
  /** Opens this pack's engine (on first use, and again after it was unloaded). */
  open(): Promise<Engine>;
}

export interface EnginePoolOptions {
  packs: readonly PoolPack[];
  /** Warm engines are unloaded, least recently used first, while their estimates add up to more. */
  memoryMb: number;
  logger?: Logger;
  /** An engine opened by the caller for the first pack: kept warm always, never closed by the pool. */
  preloaded?: Engine;
  /** See Engines.runsElsewhere. */
  runsElsewhere?: boolean;
}

interface Slot extends PoolPack {
  engine?: Promise<Engine>;
  loaded?: Engine;
  device?: string;
  running: number;
  lastUsed: number;
  pinned: boolean;
}

/** The model does not exist (the bot checks first; this guards the manager). */
export class UnknownModel extends Error {
  constructor(readonly model: string) {
    super(`there is no model called "${model}"`);
    this.name = 'UnknownModel';
  }
}

export class EnginePool implements Engines {
  readonly defaultModel: string;
  readonly runsElsewhere: boolean;
  private readonly slots = new Map<string, Slot>();
  private readonly log: Logger;
  private clock = 0;

  constructor(private readonly opts: EnginePoolOptions) {
    if (!opts.packs.length) throw new Error('an engine pool needs at least one pack');
    this.log = opts.logger ?? defaultLog;
    for (const p of opts.packs) this.slots.set(packKey(p.pack.name), { ...p, running: 0, lastUsed: 0, pinned: false });
    this.defaultModel = opts.packs[0]!.pack.name;
    this.runsElsewhere = opts.runsElsewhere ?? false;
    if (opts.preloaded) {
      const first = this.slot(this.defaultModel);
      first.loaded = opts.preloaded;
      first.engine = Promise.resolve(opts.preloaded);
      first.device = opts.preloaded.info().device;
      first.pinned = true;
    }
  }

  list(): readonly PackInfo[] {
    return [...this.slots.values()].map((s) => s.pack);
  }

  find(name: string): PackInfo | undefined {
    return this.slots.get(packKey(name))?.pack;
  }

  info(model: string): EngineInfo {
    const s = this.slot(model);
    return { ...s.checker.info(), device: s.device ?? 'not loaded yet' };
  }

  check(model: string, request: EngineRequest): Promise<void> {
    return this.slot(model).checker.check(request);
  }

  async acquire(model: string): Promise<Lease> {
    const s = this.slot(model);
    s.running++;
    s.lastUsed = ++this.clock;
    try {
      s.engine ??= this.load(s);
      const engine = await s.engine;
      let released = false;
      return {
        engine,
        release: () => {
          if (released) return;
          released = true;
          s.running--;
          s.lastUsed = ++this.clock;
          this.evict();
        },
      };
    } catch (e) {
      s.running--;
      throw e;
    }
  }

  warm(): { model: string; device: string; running: number }[] {
    return [...this.slots.values()].filter((s) => s.loaded).map((s) => ({ model: s.pack.name, device: s.device ?? '?', running: s.running }));
  }

  /** Closes every engine the pool opened (jobs are stopped by then) and every checker. */
  async close(): Promise<void> {
    for (const s of this.slots.values()) {
      if (s.loaded && !s.pinned) await s.loaded.close().catch((e: unknown) => this.log.warn({ err: e, model: s.pack.name }, 'closing an engine failed'));
      s.loaded = undefined;
      s.engine = undefined;
      await s.checker.close().catch(() => {});
    }
  }

  private slot(model: string): Slot {
    const s = this.slots.get(packKey(model));
    if (!s) throw new UnknownModel(model);
    return s;
  }

  private async load(s: Slot): Promise<Engine> {
    const started = performance.now();
    try {
      const engine = await s.open();
      s.loaded = engine;
      s.device = engine.info().device;
      this.log.info({ model: s.pack.name, ms: Math.round(performance.now() - started), estimateMb: s.pack.memoryMb }, 'model loaded');
      this.evict();
      return engine;
    } catch (e) {
      // The next job tries again (the pack may be fixed meanwhile); this one fails with the reason.
      s.engine = undefined;
      this.log.error({ err: e, model: s.pack.name }, 'model failed to load');
      throw e;
    }
  }

  /** Unloads idle engines, least recently used first, until the warm ones fit the budget. */
  private evict(): void {
    const warm = () => [...this.slots.values()].filter((s) => s.loaded);
    let total = warm().reduce((n, s) => n + s.pack.memoryMb, 0);
    while (total > this.opts.memoryMb) {
      const idle = warm().filter((s) => s.running === 0 && !s.pinned).sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!idle) {
        this.log.warn({ totalMb: total, budgetMb: this.opts.memoryMb }, 'models in use exceed MODEL_MEMORY_MB; unloading when they finish');
        return;
      }
      const engine = idle.loaded!;
      idle.loaded = undefined;
      idle.engine = undefined;
      total -= idle.pack.memoryMb;
      this.log.info({ model: idle.pack.name, freedMb: idle.pack.memoryMb }, 'model unloaded (least recently used)');
      void engine.close().catch((e: unknown) => this.log.warn({ err: e, model: idle.pack.name }, 'closing an engine failed'));
    }
  }
}

/** One engine already open, as Engines (the CLI's and older tests' way of running the manager). */
export function singleEngine(engine: Engine, pack?: Partial<PackInfo>): Engines {
  const info = engine.info();
  return new EnginePool({
    memoryMb: Number.MAX_SAFE_INTEGER,
    preloaded: engine,
    packs: [{
      pack: { name: info.model, dir: '', description: info.model, vocabulary: null, memoryMb: 0, ...pack },
      checker: { info: () => engine.info(), check: (r) => engine.check(r), close: async () => {} },
      open: async () => engine,
    }],
  });
}
