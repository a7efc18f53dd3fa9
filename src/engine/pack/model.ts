/**
 * A loaded model pack: the two CLIP towers as ONNX Runtime sessions (each compiled on first use and
 * cached in the pack), the tokenizer, and the pack's preprocessing. This is what the CLI, the
 * synthesis engine and the bot hold; none of them touch weight files directly.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { log as defaultLog } from '../../log.js';
import { expectedTensors } from '../clip/layout.js';
import { EMBEDDING, IMAGE_INPUT, TEXT_INPUT, textModel, towerOf, visionModel } from '../clip/graphs.js';
import { preprocessImage } from '../clip/image.js';
import { openSafetensors, type SafetensorsFile } from '../clip/safetensors.js';
import { loadTokenizer, type Tokenizer } from '../clip/tokenizer.js';
import type { TokenizerSpec } from '../clip/tokenizer.js';
import type { ClipConfig } from '../clip/config.js';
import type { TensorSource } from '../clip/towers.js';
import type { Model } from '../onnx/ir.js';
import { Tensor } from '../onnx/tensor.js';
import { Session, type RuntimeOptions } from '../runtime.js';
import { cachedGraph, type WeightSpans } from './graph-cache.js';
import { readManifest, type Manifest } from './manifest.js';

export type Tower = 'text' | 'vision';

const TEXT_CACHE_SIZE = 256;

export interface OpenOptions extends RuntimeOptions {
  logger?: Logger;
}

export interface TextEncoding {
  ids: Tensor;
  /** Which texts were longer than the context and cut. */
  truncated: boolean[];
}

export class ClipModel {
  private readonly sessions = new Map<string, Promise<Session>>();
  private tokenizerP?: Promise<Tokenizer>;
  private readonly textCache = new Map<string, { embedding: Float32Array; truncated: boolean }>();
  /** Whether each graph (by kind: 'text', 'vision', …) came from the pack's cache (for reports and tests). */
  readonly fromCache = new Map<string, boolean>();

  private constructor(
    readonly dir: string,
    readonly manifest: Manifest,
    private readonly weights: SafetensorsFile,
    private readonly opts: OpenOptions,
  ) {}

  /** Reads and checks the manifest and the weight file's header; no tensor bytes are read yet. */
  static async open(dir: string, opts: OpenOptions = {}): Promise<ClipModel> {
    const manifest = await readManifest(dir);
    const file = join(dir, manifest.weights.file);
    let weights: SafetensorsFile;
    try {
      weights = await openSafetensors(file);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new Error(code === 'ENOENT' ? `${file}: the pack's weight file is missing` : (e as Error).message);
    }
    checkWeights(weights, manifest, file);
    return new ClipModel(dir, manifest, weights, opts);
  }

  get config(): ClipConfig { return this.manifest.config; }
  get logitScale(): number { return this.manifest.logitScale; }
  private get log(): Logger { return this.opts.logger ?? defaultLog; }

  tokenizer(): Promise<Tokenizer> {
    this.tokenizerP ??= (async () => {
      const spec = this.manifest.tokenizer;
      if (!spec) {
        throw new Error(`${this.dir} has no tokenizer: re-import it with --tokenizer FILE (open_clip's bpe_simple_vocab_16e6.txt.gz, or a tokenizer.json)`);
      }
      const tok = await loadTokenizer(spec as TokenizerSpec, this.dir);
      if (tok.vocabSize > this.config.text.vocabSize) {
        throw new Error(`${this.dir}: the tokenizer has ${tok.vocabSize} ids but the text tower only ${this.config.text.vocabSize}`);
      }
      return tok;
    })();
    return this.tokenizerP;
  }

  async tokenize(texts: readonly string[]): Promise<TextEncoding> {
    const tok = await this.tokenizer();
    const ctx = this.config.text.contextLength;
    const ids: number[] = [];
    const truncated: boolean[] = [];
    for (const t of texts) {
      const r = tok.encode(t, ctx);
      ids.push(...r.ids);
      truncated.push(r.truncated);
    }
    return { ids: Tensor.int64([texts.length, ctx], ids), truncated };
  }

  /** Projected, unnormalised text embeddings [N, embedDim]. */
  async embedTexts(texts: readonly string[]): Promise<Tensor> {
    return this.embedIds((await this.tokenize(texts)).ids);
  }

  /**
   * One text's embedding, remembered: a bot re-rolling the same prompt, or a synthesis run asking for
   * its target again, does not run the text tower twice. Bounded, oldest forgotten first.
   */
  async textEmbedding(text: string): Promise<{ embedding: Float32Array; truncated: boolean }> {
    const hit = this.textCache.get(text);
    if (hit) {
      this.textCache.delete(text);
      this.textCache.set(text, hit);
      return hit;
    }
    const { ids, truncated } = await this.tokenize([text]);
    const entry = { embedding: (await this.embedIds(ids)).data as Float32Array, truncated: truncated[0]! };
    this.textCache.set(text, entry);
    if (this.textCache.size > TEXT_CACHE_SIZE) this.textCache.delete(this.textCache.keys().next().value!);
    return entry;
  }

  async embedIds(ids: Tensor): Promise<Tensor> {
    const s = await this.session('text');
    return (await s.run({ [TEXT_INPUT]: ids }, [EMBEDDING]))[EMBEDDING]!;
  }

  /** Projected, unnormalised image embeddings of normalised pixels [N, 3, S, S]. */
  async embedPixels(pixels: Tensor): Promise<Tensor> {
    const s = await this.session('vision');
    return (await s.run({ [IMAGE_INPUT]: pixels }, [EMBEDDING]))[EMBEDDING]!;
  }

  /** An image file through the pack's preprocessing (open_clip's eval transform), embedded. */
  async embedImageFile(path: string): Promise<Tensor> {
    const { imageSize, } = this.config.vision;
    return this.embedPixels(await preprocessImage(path, { imageSize, mean: this.config.mean, std: this.config.std }));
  }

  /** The tower's session, compiled (or taken from the pack's cache) on first use. */
  session(tower: Tower): Promise<Session> {
    return this.graphSession(tower, [tower], (source) => (tower === 'text' ? textModel(this.config, source) : visionModel(this.config, source)));
  }

  /**
   * A session for any graph built over this pack's weights (a tower, a synthesis step…): `kind` names
   * it in the pack's graph cache, so it must say everything that changes the graph (sizes, counts);
   * `towers` says whose weights the builder may ask for. Compiled once per process and per pack.
   */
  graphSession(kind: string, towers: readonly Tower[], build: (source: TensorSource) => Model): Promise<Session> {
    let s = this.sessions.get(kind);
    if (!s) {
      s = (async () => {
        const graph = await cachedGraph(this.dir, this.manifest, kind, () => this.buildGraph(towers, build), this.log);
        this.fromCache.set(kind, graph.cached);
        return Session.create(graph.path ?? graph.bytes!, this.opts);
      })();
      this.sessions.set(kind, s);
      s.catch(() => this.sessions.delete(kind));
    }
    return s;
  }

  private async buildGraph(towers: readonly Tower[], build: (source: TensorSource) => Model): Promise<{ model: Model; spans: WeightSpans }> {
    const keepF16 = this.manifest.weights.dtype === 'fp16';
    const tensors = new Map<string, Tensor>();
    const spans: WeightSpans = new WeakMap();
    for (const info of expectedTensors(this.config)) {
      const tower = towerOf(info.name);
      if (tower === 'none' || !towers.includes(tower)) continue;
      const t = await this.weights.read(info.name, { keepF16 });
      const e = this.weights.tensors.get(info.name)!;
      // Only a tensor whose bytes are the file's own can be referenced from the graph.
      if (t.data.byteLength === e.end - e.begin) spans.set(t, { offset: e.begin, length: e.end - e.begin });
      tensors.set(info.name, t);
    }
    const source: TensorSource = (name) => {
      const t = tensors.get(name);
      if (!t) throw new Error(`${this.dir}: the graph needs ${name}, which is not among the ${towers.join('/')} weights`);
      return t;
    };
    return { model: build(source), spans };
  }

  async close(): Promise<void> {
    for (const s of this.sessions.values()) await (await s.catch(() => undefined))?.release();
    this.sessions.clear();
    await this.weights.close();
  }
}

/** The weight file must be the one the manifest describes and hold what the config needs. */
function checkWeights(w: SafetensorsFile, m: Manifest, file: string): void {
  for (const e of expectedTensors(m.config)) {
    const got = w.tensors.get(e.name);
    if (!got) throw new Error(`${file}: tensor ${e.name} is missing (the pack is damaged; import it again)`);
    if (got.shape.length !== e.shape.length || got.shape.some((d, i) => d !== e.shape[i])) {
      throw new Error(`${file}: tensor ${e.name} has shape [${got.shape.join(',')}], the pack's config expects [${e.shape.join(',')}]`);
    }
  }
}

/** Cosine similarity of two vectors. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return ab / Math.sqrt(aa * bb);
}

/** v / ‖v‖ (as open_clip's F.normalize, which guards the norm with eps 1e-12). */
export function normalize(v: ArrayLike<number>): number[] {
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  const norm = Math.max(Math.sqrt(n), 1e-12);
  return Array.from(v, (x) => x / norm);
}
