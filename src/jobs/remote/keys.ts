/**
 * Where the shared queue keeps things in Redis. BullMQ owns its own keys (bull:<queue>:…); ours are
 * the binary blobs that must not ride inside BullMQ payloads (frames, results, starting pictures),
 * the workers' announcements, and the cancel requests.
 */
import { packKey } from '../packs.js';

/** One BullMQ queue per model pack, so a worker only ever takes jobs for a model it serves. */
export const queueName = (model: string): string => `clipag.${encodeURIComponent(packKey(model))}`;

export const blobKey = (jobId: string, name: string): string => `clipag:blob:${jobId}:${name}`;
export const workerKey = (name: string): string => `clipag:worker:${name}`;
export const WORKER_PATTERN = 'clipag:worker:*';
/** Set before the cancel is published, so a worker that takes the job a moment later still sees it. */
export const cancelKey = (jobId: string): string => `clipag:cancel:${jobId}`;
export const CANCEL_CHANNEL = 'clipag:cancel';

/** Seconds a progress frame lives: a bot that has not read it by then has moved on to a later one. */
export const FRAME_TTL_S = 120;
/**
 * Seconds results, starting pictures and finished BullMQ jobs live: long enough for a bot that was
 * down when a job finished to come back and deliver it, short enough that Redis never fills up.
 */
export const RESULT_TTL_S = 6 * 3600;
/** Seconds a worker's announcement lives without a heartbeat: it is offline after that. */
export const WORKER_TTL_S = 15;
