/**
 * The engine's public surface: the Engine (one per thread, over shared memory), its
 * configuration, the shapes it takes and returns, and the log interface it appends to.
 */

export type { DcUpsertResult, EngineApi, SkuUpsertResult } from './api.js';
export {
  AvailabilityAnswers,
  ETA_NONE,
  OrderAnswers,
  RESULT_CREATED,
  RESULT_EXISTS,
  RESULT_REFUSED,
} from './answers.js';
export { ConfigError, DEFAULT_CONFIG, type EngineConfig, resolveConfig } from './config.js';
export * from './constants.js';
export type { Clock } from './context.js';
export { Engine, type EngineOptions, type EngineState, type OrderSnapshot } from './engine.js';
export { DC_HITS_MAX, DcHits } from './geo/index.js';
export { type LogRecord, type LogRecordType, NO_LOG, type OperationLog } from './log.js';
export { type EngineShared, sharedBytes } from './memory.js';
export * from './types.js';
