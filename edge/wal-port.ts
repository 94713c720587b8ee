/**
 * The edge's view of the write-ahead log in a thread: `SharedLog` (wal/) seen as the engine's
 * `OperationLog` plus the `DurableLog` the operations wait on.
 *
 * Invariants: `lastAppendedTicket` is a ticket no earlier than any record appended so far by
 * any thread, so waiting on it covers every change a thread could have observed.
 */

import { randomUUID } from 'node:crypto';
import {
  Engine,
  type EngineConfig,
  type OperationLog,
  resolveConfig,
  resolveConfigOver,
} from '../engine/index.js';
import {
  type DurabilityPolicy,
  describeWalError,
  type LogReader,
  openWal,
  type RecoveryReport,
  SharedLog,
  type SnapshotInfo,
  type WalErrorBody,
  type WalLogger,
  type WalResult,
} from '../wal/index.js';
import type { Logger } from './logger.js';
import type { DurableLog } from './operations.js';

export type ThreadLog = OperationLog & DurableLog & { readonly shared: SharedLog };

/** Attaches this thread to the log ring whose buffer the main thread shared. */
export function attachThreadLog(ringBuffer: SharedArrayBuffer): ThreadLog {
  return threadLogOf(new SharedLog(ringBuffer));
}

export function threadLogOf(log: SharedLog): ThreadLog {
  return {
    shared: log,
    writable: () => log.writable(),
    append: (record) => log.append(record),
    waitDurable: (ticket) => log.waitDurable(ticket),
    // The ring's tail is the end of the newest reserved frame: the durable position reaches
    // it exactly when every frame reserved so far is durable, so it serves as a ticket that
    // covers them all (tickets compare against the durable position; see wal/ring.ts).
    lastAppendedTicket: () => log.ring.tail(),
  };
}

/** The main thread's handle on the node's log: its own end, the ring to share, and stop. */
export interface NodeLog {
  thread: ThreadLog;
  ringBuffer: SharedArrayBuffer;
  policy: DurabilityPolicy;
  /** The newest durable log sequence number. */
  durableLsn(): number;
  /** A reader of the log's committed records, in the main thread. */
  reader(): LogReader;
  /** The log writer thread's kernel id, for its CPU time; -1 when unknown. */
  writerThreadId(): number;
  /** Says what this node serves to a process refused the data directory's lock. */
  describe(serves: string): void;
  /** Folds the log into a new snapshot off the serving threads, then compacts the log. */
  snapshot(): Promise<WalResult<SnapshotInfo>>;
  /** Stops a fold in progress at its next step (SNAPSHOT_CANCELLED); resolves once it ended. */
  cancelSnapshot(): Promise<void>;
  /** Writes everything appended so far, then stops the writer thread. Idempotent. */
  close(): Promise<void>;
}

export interface OpenedNodeLog {
  engine: Engine;
  log: NodeLog;
  /** True when the directory held no log: the caller may seed it. */
  fresh: boolean;
  report: RecoveryReport;
}

export interface OpenNodeLogOptions {
  dir: string;
  policy: DurabilityPolicy;
  /** The configuration for a new directory; an existing one keeps its own, with these on top. */
  engineConfig: Partial<EngineConfig>;
  /** Configuration given explicitly (flags, options): applied over an existing directory's. */
  engineOverrides: Partial<EngineConfig>;
  clock: () => number;
  logger: Logger;
  /** Log records compaction keeps whatever the snapshots (the order event window). */
  retainRecords?: number;
}

/** Why the log could not be opened or recovered: the log's code, message and hint. */
export class NodeLogError extends Error {
  readonly code: string;
  readonly exitCode: number;
  constructor(error: WalErrorBody) {
    super(describeWalError(error));
    this.code = error.code;
    this.exitCode = error.exitCode;
  }
}

function walLoggerOf(logger: Logger): WalLogger {
  return { log: (level, message, fields) => logger[level](message, { scope: 'wal', ...fields }) };
}

/**
 * Opens the log directory through wal/ and recovers a new engine from it (snapshot, replay,
 * torn-tail truncation, expiry of holds that passed while the node was down); the writer
 * thread then runs and the engine appends to the log. Throws NodeLogError when the directory
 * is refused (foreign, another format, capacities smaller than its data).
 */
export async function openNodeLog(options: OpenNodeLogOptions): Promise<OpenedNodeLog> {
  const opened = await openWal({
    dataDir: options.dir,
    // A new directory takes the node's configuration; an existing one keeps its own, with what
    // was given explicitly on top (the log refuses what cannot apply to the data).
    engineConfig: (stored) =>
      stored === null
        ? resolveConfig(options.engineConfig)
        : resolveConfigOver(stored, options.engineOverrides),
    policy: options.policy,
    logRetainRecords: options.retainRecords,
    clock: options.clock,
    randomId: randomUUID,
    logger: walLoggerOf(options.logger),
  });
  if (!opened.ok) throw new NodeLogError(opened.error);
  const wal = opened.value;
  const fresh = wal.created;
  const engine = Engine.create(wal.engineConfig, { clock: options.clock, log: wal.log });
  const recovered = await wal.recover(engine);
  if (!recovered.ok) {
    await wal.close();
    throw new NodeLogError(recovered.error);
  }
  let closing: Promise<void> | null = null;
  const recoveredLsn = recovered.value.lastLsn;
  const log: NodeLog = {
    describe: (serves) => wal.lock.describe(serves),
    thread: threadLogOf(wal.log),
    ringBuffer: wal.ringBuffer,
    policy: wal.policy,
    durableLsn: () => {
      // The LSN's two halves are stored separately: read until two reads agree. Until the
      // writer's first commit the ring says 0: what recovery found is durable too.
      let lsn = wal.log.durableLsn();
      for (let again = wal.log.durableLsn(); again !== lsn; again = wal.log.durableLsn()) {
        lsn = again;
      }
      return Math.max(lsn, recoveredLsn);
    },
    reader: () => wal.logReader(),
    writerThreadId: () => wal.writerThreadId,
    snapshot: () => wal.snapshot(),
    cancelSnapshot: () => wal.cancelSnapshot(),
    close: () => {
      closing ??= wal.close().then(() => undefined);
      return closing;
    },
  };
  return { engine, log, fresh, report: recovered.value };
}
