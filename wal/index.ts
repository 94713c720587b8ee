/**
 * The write-ahead log's public surface: open a data directory and recover an engine from it
 * (`openWal`, `Wal`), each thread's end of the log (`SharedLog`), snapshots, the durability
 * policies and limits, the failure codes, the inspection CLI's entry (`runCli`), and the command
 * line every program of the project shares (`parseCommandLine`, `runMain`, the key variables).
 * See wal/README.md for the durability contract.
 */

export { type CliIo, runCli } from './cli.js';
export {
  type CommandLine,
  EXIT_USAGE,
  isEntryPoint,
  KEY_VARIABLES,
  keyFromEnvironment,
  parseCommandLine,
  reportFailure,
  runMain,
  showUsage,
  UsageError,
} from './command-line.js';
export {
  DURABILITY_POLICIES,
  DURABILITY_POLICY_ALIASES,
  DURABILITY_POLICY_DEFAULT,
  type DurabilityPolicy,
  isDurabilityPolicy,
  LOG_BATCH_BUCKET_BOUNDS_RECORDS,
  LOG_COMMIT_BUCKET_BOUNDS_MICROS,
  parseDurabilityPolicy,
  RECORD_PAYLOAD_BYTES_MAX,
  RING_CAPACITY_BYTES_DEFAULT,
  RING_CAPACITY_BYTES_MAX,
  RING_CAPACITY_BYTES_MIN,
  RING_CAPACITY_BYTES_NODE_MIN,
  SNAPSHOTS_KEPT,
  STORE_SIZE_BYTES_DEFAULT,
  WRITER_BATCH_BYTES_MAX,
  WRITER_BATCH_RECORDS_MAX,
} from './constants.js';
export { crc32 } from './crc32.js';
export { createPrivateEngine, exportFullState, type SnapshotableEngine } from './engine-port.js';
export {
  describeWalError,
  LogUnavailableError,
  type WalCode,
  WalCodes,
  type WalErrorBody,
  type WalFailure,
  type WalResult,
} from './errors.js';
export {
  DurabilityTimeoutError,
  type LogStats,
  SharedLog,
  type SharedLogOptions,
  TooManyWaitersError,
} from './log.js';
export {
  jsonLineLogger,
  SILENT_LOGGER,
  type WalLogger,
  type WalLogLevel,
} from './logger.js';
export { LogReader, LogReadError } from './log-reader.js';
export {
  checkStoredRecord,
  RecordDecoder,
  RecordEncoder,
  recordFlags,
  recordSession,
  storedValue,
} from './record.js';
export { openWal, type RecoveryReport, Wal, type WalOptions } from './recovery.js';
export { applyStoredValues, type TornTail } from './replay.js';
export {
  createReplicationBuffer,
  isReplicationMode,
  REPLICATION_MODES,
  REPLICATION_QUEUE_SLOTS,
  type ReplicationEntry,
  type ReplicationMode,
  ReplicationQueue,
} from './replication-queue.js';
export { createRingBuffer, LogRing, type RingOptions } from './ring.js';
export { type SnapshotInfo, Snapshotter } from './snapshot.js';
export type { SnapshotManifest } from './snapshot-store.js';
export { type DataMeta, inspectDirectory, logBounds, openStore, type Store } from './store.js';
export { LogWriter, type LogWriterOptions, markFailed, type WriterSummary } from './writer.js';
export { ownThreadId, statFields, type ThreadCpu, threadCpuSeconds } from './thread-cpu.js';
