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
export {
  CELLS_MAX,
  ConfigError,
  DC_CAPACITY_DEFAULT,
  DC_CAPACITY_MAX,
  DEFAULT_CONFIG,
  type EngineConfig,
  resolveConfig,
  resolveConfigOver,
  SKU_CAPACITY_DEFAULT,
  SKU_CAPACITY_MAX,
} from './config.js';
export * from './constants.js';
export type { Clock } from './context.js';
export { Engine, type EngineOptions, type EngineState, type OrderSnapshot } from './engine.js';
export { type SnapshotImportCode, SnapshotImportError } from './failure.js';
export { DC_HITS_MAX, DcHits } from './geo/index.js';
export { type LogRecord, type LogRecordType, NO_LOG, type OperationLog } from './log.js';
export { commitOrderTable, type EngineShared, sharedBytes } from './memory.js';
export * from './types.js';

// The inner loops on their own, for the micro-benchmarks (bench/run.ts) and nothing else: the
// serving paths reach them through the Engine.
export { Allocation } from './reservation/allocate.js';
export { StockTable } from './stock/stock-table.js';
