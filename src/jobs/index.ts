export { openEngine, JobAborted, JobInputError, type Engine, type EngineInfo, type EngineProgress, type EngineRequest, type EngineResult, type EngineRunOptions, type OpenEngineOptions } from './engine.js';
export { FairQueue, type FairItem, type FairQueueOptions, type QueuePlace } from './fair-queue.js';
export * from './manager.js';
