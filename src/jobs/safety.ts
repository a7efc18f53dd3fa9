/**
 * A finished job's picture through its server's safety filter, before anything is posted: the
 * engine that drew it screens it (with that model's own CLIP and defaults), and a catch is audited
 * under the member whose picture it was. What the bot then does is the outcome's action.
 */
import type { Logger } from 'pino';
import type { SafetyVerdict } from '../engine/safety/screen.js';
import type { Store } from '../store/store.js';
import type { JobRecord } from '../store/types.js';
import type { Engine } from './engine.js';

export interface SafetyOutcome {
  /** post: as usual; spoiler: behind a spoiler cover; withhold: not posted at all. */
  action: 'post' | 'spoiler' | 'withhold';
  verdict: SafetyVerdict;
}

export interface ScreenJobInput {
  store: Store;
  engine: Engine;
  job: JobRecord;
  /** The model that drew it, for the audit entry. */
  model: string;
  /** Each picture on its own (a grid's tiles, not the grid shrunk to the model's input). */
  pngPaths: readonly string[];
  log: Logger;
}

/** Undefined when the server's filter is off (or the engine cannot screen): nothing was checked. */
export async function screenJob(o: ScreenJobInput): Promise<SafetyOutcome | undefined> {
  const { job } = o;
  const settings = o.store.safety.get(job.guildId);
  if (settings.mode === 'off' || !o.engine.screen) return undefined;
  // The first picture caught decides for the whole result; the prompt is the same for each.
  let verdict: SafetyVerdict | undefined;
  for (const path of o.pngPaths) {
    verdict = await o.engine.screen(path, job.request.prompt, settings);
    if (verdict.worst) break;
  }
  if (!verdict) return undefined;
  if (verdict.unreadable.length) {
    o.log.warn({ jobId: job.id, model: o.model, concepts: verdict.unreadable.map((u) => u.text) }, 'safety concepts this model cannot read were skipped');
  }
  const w = verdict.worst;
  if (!w) return { action: 'post', verdict };
  o.store.safety.recordFlag({
    guildId: job.guildId, jobId: job.id, userId: job.userId, mode: settings.mode, model: o.model, concept: w.text,
    image: { score: w.image, threshold: w.threshold.image },
    ...(w.prompt === undefined ? {} : { prompt: { score: w.prompt, threshold: w.threshold.prompt } }),
  });
  o.log.info({ jobId: job.id, guildId: job.guildId, concept: w.text, over: w.over, mode: settings.mode }, 'picture caught by the safety filter');
  return { action: settings.mode === 'block' ? 'withhold' : 'spoiler', verdict };
}
