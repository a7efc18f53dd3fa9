import * as ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import { log as defaultLog } from '../log.js';
import type { Model } from './onnx/ir.js';
import { encodeModel } from './onnx/proto.js';
import { Tensor, type DType, type TypedData } from './onnx/tensor.js';

export type Device = 'auto' | 'cpu' | 'cuda' | 'webgpu';
export const DEVICES: readonly Device[] = ['auto', 'cpu', 'cuda', 'webgpu'];

export interface RuntimeOptions {
  device?: Device;
  /** Threads inside one op (0: ORT's default, one per core). */
  intraOpThreads?: number;
  interOpThreads?: number;
  /** ORT graph optimisation level; 'all' unless debugging. */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  logger?: Logger;
}

/** Thrown when an explicitly requested device is unusable and falling back was not allowed. */
export class RuntimeError extends Error {}

/** The order in which providers are tried for a device setting; cpu always ends the list. */
function candidates(device: Device): string[] {
  switch (device) {
    case 'cpu': return ['cpu'];
    case 'cuda': return ['cuda', 'cpu'];
    case 'webgpu': return ['webgpu', 'cpu'];
    case 'auto': return ['cuda', 'cpu'];
  }
}

function sessionOptions(provider: string, o: RuntimeOptions): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: o.optimization ?? 'all',
    intraOpNumThreads: o.intraOpThreads ?? 0,
    interOpNumThreads: o.interOpThreads ?? 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
  };
}

/** Turns ORT's provider-loading failures into advice a person can act on. */
function explain(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  if (/libonnxruntime_providers_(shared|cuda)|libcudart|libcublas|libcudnn/.test(msg)) {
    return 'the CUDA provider libraries are not installed: reinstall with ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci on a host with CUDA 12 and cuDNN 9';
  }
  return msg.split('\n')[0]!;
}

// ORT prints native errors (a missing CUDA library, say) to stderr before we can explain them.
ort.env.logLevel = 'fatal';

/** An inference session with our Tensor type at its edges, and the provider it actually runs on. */
export class Session {
  private constructor(private readonly inner: ort.InferenceSession, readonly provider: string) {}

  /** `model` may be a file path: ONNX Runtime then resolves external data beside it itself. */
  static async create(model: Model | Uint8Array | string, opts: RuntimeOptions = {}): Promise<Session> {
    const source = typeof model === 'string' || model instanceof Uint8Array ? model : encodeModel(model);
    const logger = opts.logger ?? defaultLog;
    const device = opts.device ?? 'auto';
    let lastError: unknown;
    for (const provider of candidates(device)) {
      try {
        const s = typeof source === 'string'
          ? await ort.InferenceSession.create(source, sessionOptions(provider, opts))
          : await ort.InferenceSession.create(source, sessionOptions(provider, opts));
        if (provider === 'cpu' && device !== 'cpu' && lastError !== undefined) {
          const level = device === 'auto' ? 'info' : 'warn';
          logger[level]({ device, reason: explain(lastError) }, `execution provider ${device === 'auto' ? 'cuda' : device} unavailable, falling back to cpu`);
        }
        return new Session(s, provider);
      } catch (e) {
        lastError = e;
        if (provider === 'cpu') break;
      }
    }
    throw new RuntimeError(`could not create an ONNX Runtime session: ${(lastError as Error).message}`);
  }

  get inputNames(): readonly string[] { return this.inner.inputNames; }
  get outputNames(): readonly string[] { return this.inner.outputNames; }

  async run(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, t] of Object.entries(feeds)) ortFeeds[k] = toOrt(t);
    const res = outputs ? await this.inner.run(ortFeeds, outputs) : await this.inner.run(ortFeeds);
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v);
    return out;
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

export function toOrt(t: Tensor): ort.Tensor {
  // ORT names its element types as we do; the cast is needed because its union is narrower.
  return new ort.Tensor(t.dtype as ort.Tensor.Type, t.data as ort.Tensor.DataType, [...t.dims]);
}

export function fromOrt(v: ort.Tensor): Tensor {
  return new Tensor(v.type as DType, [...v.dims], v.data as TypedData);
}
