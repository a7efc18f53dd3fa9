export { openStore, migrate, randomJobId, type Store, type StoreOptions } from './store.js';
export type { JobsRepo, UserJobCounts } from './jobs.js';
export type { LimitsRepo } from './limits-repo.js';
export type { AuditLog } from './audit.js';
export type { SafetyFlag, SafetyRepo } from './safety-repo.js';
export * from './safety.js';
export * from './limits.js';
export * from './types.js';
