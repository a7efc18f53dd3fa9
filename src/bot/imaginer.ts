/**
 * Queuing an image, whichever way it was asked for (/imagine, 🔁, 🎲), in two halves so /imagine
 * can acknowledge in between: prepare() checks prompt safety, the server's limits and the words the
 * model knows, without starting anything; submit() queues the job (which may start at once and
 * keep the process busy). A prepared request holds its place in the member's limits until it is
 * submitted or released, so five commands fired at once cannot slip past queued_per_user.
 */
import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { JobInputError } from '../jobs/engine.js';
import type { Engines } from '../jobs/engine-pool.js';
import { engineFields, JobManagerClosed, type JobManager } from '../jobs/manager.js';
import type { GuildLimits } from '../store/limits.js';
import type { Store } from '../store/store.js';
import type { JobRecord, JobRequest } from '../store/types.js';
import { fetchUpload, type UploadRef } from './attachments.js';
import { checkLimits } from './limits-check.js';
import { chooseModel } from './models.js';
import { checkText } from './sanitize.js';

export interface ImagineInput extends JobRequest {
  guildId: string;
  userId: string;
  /** Where it was asked: the acknowledgement goes here. */
  channelId: string;
  /** The parent channel when channelId is a thread (allowed channels count threads by their parent). */
  parentChannelId?: string | null;
  /** A picture the member attached to start from: prepare() downloads and checks it (attachments.ts). */
  upload?: UploadRef;
  /** The finished job a 🔁 or 🎲 acts on: its own finish never counts toward the member's cooldown. */
  fromJobId?: string;
}

export type Refusal = { ok: false; message: string; limit?: keyof GuildLimits | 'size' | 'input' | 'closed' | 'upload' };

export interface Prepared {
  ok: true;
  input: ImagineInput;
  request: JobRequest;
  /** Whether this request still holds a place in the member's counts. */
  held: boolean;
  /** The upload prepare() saved: removed on release unless a job took it. */
  upload?: string;
}

export type ImagineOutcome = { ok: true; job: JobRecord; position: number } | Refusal;

export class Imaginer {
  private readonly holds = new Map<string, { count: number; lastAt: number }>();

  constructor(private readonly store: Store, private readonly engines: Engines, private readonly manager: JobManager, private readonly log: Logger,
    /** DATA_DIR/uploads: checked uploads wait here as starting pictures. */
    private readonly uploadsDir: string) {}

  /** Checks everything a member can fix; on success the request holds its place until submit or release. */
  async prepare(input: ImagineInput): Promise<Prepared | Refusal> {
    const limits = this.store.limits.get(input.guildId);
    const prompt = checkText(input.prompt, 'prompt', limits.blockedWords);
    if (!prompt.ok) return { ok: false, message: prompt.message, limit: prompt.problem === 'blocked' ? 'blockedWords' : 'input' };
    let negative: string | undefined;
    if (input.negative !== undefined) {
      const n = checkText(input.negative, 'negative prompt', limits.blockedWords);
      if (!n.ok) return { ok: false, message: n.message, limit: n.problem === 'blocked' ? 'blockedWords' : 'input' };
      negative = n.text;
    }
    const chosen = chooseModel(this.engines, limits, input.model);
    if (!chosen.ok) return { ok: false, message: chosen.message, limit: 'input' };
    const { model } = chosen;
    const info = this.engines.info(model);
    // Left out, steps is the model's default (an upscale's: its short refinement), within the server's maximum.
    const steps = input.steps ?? Math.min(input.kind === 'upscale' ? info.upscaleSteps : info.defaultSteps, limits.maxSteps);
    const size = input.size ?? info.imageSize;
    const request: JobRequest = { prompt: prompt.text, steps, size, model };
    if (negative !== undefined) request.negative = negative;
    if (input.seed !== undefined) request.seed = input.seed;
    if (input.initJobId !== undefined) request.initJobId = input.initJobId;
    if (input.initIndex !== undefined) request.initIndex = input.initIndex;
    if (input.count !== undefined && input.count > 1) request.count = input.count;
    if (input.kind === 'upscale') request.kind = 'upscale';
    if (input.initImage !== undefined) request.initImage = input.initImage;

    const refused = this.overLimits(input, limits, steps, size, model);
    if (refused) return refused;
    // The upload after the cheap checks (nothing is downloaded for a request refused anyway).
    let upload: string | undefined;
    if (input.upload) {
      const got = await fetchUpload(input.upload, this.uploadsDir);
      if (!got.ok) return { ok: false, message: got.message, limit: 'upload' };
      upload = request.initImage = got.path;
    }
    // Refused after all: the saved upload goes again.
    const drop = (): void => {
      if (upload) void unlink(upload).catch(() => {});
    };
    // Words the model does not know, options out of its range: cheap to find (no synthesis runs).
    try {
      await this.engines.check(model, engineFields(request));
    } catch (e) {
      drop();
      if (e instanceof JobInputError) return { ok: false, message: sentence(e.message), limit: 'input' };
      throw e;
    }
    // Checked again after the await: another request of the same member may have taken the place.
    const late = this.overLimits(input, limits, steps, size, model);
    if (late) {
      drop();
      return late;
    }
    const key = holdKey(input);
    const h = this.holds.get(key);
    this.holds.set(key, { count: (h?.count ?? 0) + 1, lastAt: Date.now() });
    return { ok: true, input, request, held: true, ...(upload ? { upload } : {}) };
  }

  /** Queues a prepared request (and gives its held place to the stored job). */
  async submit(p: Prepared): Promise<ImagineOutcome> {
    try {
      const { job, position } = await this.manager.submit({ guildId: p.input.guildId, channelId: p.input.channelId, userId: p.input.userId, request: p.request });
      p.upload = undefined; // the job's now
      return { ok: true, job, position };
    } catch (e) {
      if (e instanceof JobInputError) return { ok: false, message: sentence(e.message), limit: 'input' };
      if (e instanceof JobManagerClosed) return { ok: false, message: sentence(e.message), limit: 'closed' };
      this.log.error({ err: e }, 'submit failed');
      throw e;
    } finally {
      this.release(p);
    }
  }

  /** A prepared request that will not be submitted gives its place back. */
  release(p: Prepared): void {
    if (p.upload) void unlink(p.upload).catch(() => {});
    p.upload = undefined;
    if (!p.held) return;
    p.held = false;
    const key = holdKey(p.input);
    const h = this.holds.get(key);
    if (!h) return;
    if (h.count <= 1) this.holds.delete(key);
    else h.count--;
  }

  /** prepare then submit, for requests with no acknowledgement deadline to meet (reactions, buttons). */
  async request(input: ImagineInput): Promise<ImagineOutcome> {
    const p = await this.prepare(input);
    return p.ok ? this.submit(p) : p;
  }

  private overLimits(input: ImagineInput, limits: GuildLimits, steps: number, size: number, model: string): Refusal | undefined {
    const counts = this.store.jobs.countsFor(input.guildId, input.userId, input.fromJobId);
    const held = this.holds.get(holdKey(input));
    if (held) {
      counts.active += held.count;
      counts.lastDay += held.count;
      counts.cooldownFrom = Math.max(counts.cooldownFrom ?? 0, held.lastAt);
    }
    const verdict = checkLimits(limits, counts, { channelId: input.channelId, parentChannelId: input.parentChannelId, steps, size }, this.engines.info(model), Date.now());
    return verdict.ok ? undefined : { ok: false, message: verdict.message, limit: verdict.limit };
  }
}

const holdKey = (i: ImagineInput): string => `${i.guildId}:${i.userId}`;

/** An engine message ("unknown word …") as a sentence for a chat reply: capital first, one line, full stop. */
function sentence(s: string): string {
  const line = s.split('\n')[0]!;
  const out = line.charAt(0).toUpperCase() + line.slice(1);
  return /[.!?:]$/.test(out) ? out : `${out}.`;
}
