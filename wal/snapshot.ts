/**
 * Taking a snapshot without stalling the live engine: fold the log. A private engine (its own
 * memory, no log) loads the newest snapshot, replays the committed log records after it up to
 * a target LSN, and its state is written as the new snapshot at that LSN. Old snapshots are
 * pruned and the log is compacted behind them (snapshot-store.ts).
 *
 * Live shared memory is never copied: it changes while being read and records are deltas, so
 * a fuzzy copy could not be replayed onto. The fold reads only committed records in one LMDB
 * read transaction, so it sees one consistent prefix of the log.
 *
 * `Snapshotter` runs the fold in a piscina worker thread (snapshot-worker.cts), one at a time.
 */

import { Piscina } from 'piscina';
import type { EngineConfig } from '../engine/index.js';
import type { DurabilityPolicy } from './constants.js';
import { type WalResult, walError } from './errors.js';
import { createPrivateEngine, type SnapshotableEngine } from './engine-port.js';
import { replayLog } from './replay.js';
import {
  chooseBase,
  deleteSnapshot,
  type FoldProgress,
  loadSnapshot,
  pruneAndCompact,
  SnapshotCancelled,
  type SnapshotManifest,
  writeSnapshot,
} from './snapshot-store.js';
import { logBounds, openStore, readMeta, type Store } from './store.js';
import { compiledWalFile } from './worker-file.js';

export interface SnapshotInfo {
  /** The snapshot written; null when the log had nothing after the newest one. */
  manifest: SnapshotManifest | null;
  baseLsn: number;
  replayed: number;
  removedSnapshots: number;
  /** Chunks of earlier folds that never wrote their manifest, removed (by snapshot LSN). */
  removedOrphans: number;
  deletedRecords: number;
}

export interface FoldOptions {
  clock: () => number;
  /** Snapshot at this LSN (it must be committed); default: the last committed record. */
  targetLsn?: number;
  /** Makes the private engine; the real Engine by default. */
  createEngine?: (config: EngineConfig, clock: () => number) => SnapshotableEngine;
  /** The newest records compaction keeps whatever the snapshots (0: none beyond them). */
  retainRecords?: number;
  /**
   * Polled between the fold's steps (every FOLD_CHECK_RECORDS records replayed, every chunk
   * transaction, every batch of orders loaded): once true, the fold stops within one step,
   * removes the chunks it wrote and answers SNAPSHOT_CANCELLED. Once the new manifest is
   * written the snapshot stands, and only the pruning and compaction after it stop early.
   */
  cancelled?: () => boolean;
}

/** Log records replayed between two polls of `cancelled` (a few milliseconds of work). */
const FOLD_CHECK_RECORDS = 4_096;

/** Builds a private engine holding the state at the newest usable snapshot (or empty). */
export function engineAtBase(
  store: Store,
  config: EngineConfig,
  options: FoldOptions,
  progress?: FoldProgress,
): WalResult<{ engine: SnapshotableEngine; baseLsn: number }> {
  const bounds = logBounds(store);
  const chosen = chooseBase(store, bounds?.first ?? null);
  if (!chosen.ok) return walError('SNAPSHOT_CORRUPT', chosen.problem);
  const engine = (options.createEngine ?? createPrivateEngine)(config, options.clock);
  const manifest = chosen.base.manifest;
  if (manifest === null) return { ok: true, value: { engine, baseLsn: 0 } };
  const problem = loadSnapshot(store, manifest, engine, progress);
  if (problem !== null) {
    return walError('SNAPSHOT_CORRUPT', `snapshot at LSN ${manifest.lsn}: ${problem}`);
  }
  return { ok: true, value: { engine, baseLsn: manifest.lsn } };
}

/**
 * Folds the log into a new snapshot in this thread (the worker calls this). With
 * `options.cancelled`, a fold asked to stop removes what it wrote and answers
 * SNAPSHOT_CANCELLED; the log and the older snapshots are untouched either way.
 */
export function foldSnapshot(store: Store, options: FoldOptions): WalResult<SnapshotInfo> {
  const started = performance.now();
  const meta = readMeta(store);
  if (meta === null) return walError('DATA_DIR_FOREIGN', 'the store has no meta record');
  const bounds = logBounds(store);
  const target = options.targetLsn ?? bounds?.last ?? 0;
  const cancelled = options.cancelled ?? (() => false);
  const progress: FoldProgress = () => {
    if (cancelled()) throw new SnapshotCancelled();
  };
  let manifest: SnapshotManifest | null = null;
  let baseLsn = 0;
  let replayedCount = 0;
  /** Whether chunks at `target` may exist that this fold wrote (no manifest names them yet). */
  let writing = false;
  try {
    const based = engineAtBase(store, meta.engineConfig, options, progress);
    if (!based.ok) return based;
    const { engine } = based.value;
    baseLsn = based.value.baseLsn;
    if (target > baseLsn) {
      let seen = 0;
      const replayed = replayLog(store, engine, {
        afterLsn: baseLsn,
        throughLsn: target,
        tornTail: false,
        onRecord: () => {
          if (++seen % FOLD_CHECK_RECORDS === 0) progress();
        },
      });
      if (!replayed.ok) return replayed;
      replayedCount = replayed.value.applied;
      progress();
      writing = true;
      manifest = writeSnapshot(
        store,
        engine,
        target,
        options.clock(),
        () => performance.now() - started,
        undefined,
        progress,
      );
    }
  } catch (error) {
    if (!(error instanceof SnapshotCancelled)) throw error;
    // No manifest names these chunks yet: nothing can have read them.
    if (writing) deleteSnapshot(store, target);
    return walError('SNAPSHOT_CANCELLED', `the snapshot at LSN ${target} was cancelled`);
  }
  const pruned = pruneAndCompact(store, options.retainRecords, cancelled);
  return {
    ok: true,
    value: { manifest, baseLsn, replayed: replayedCount, ...pruned },
  };
}

export interface SnapshotTask {
  dataDir: string;
  policy: DurabilityPolicy;
  targetLsn?: number;
  retainRecords?: number;
  /** One int32 shared with the Snapshotter: non-zero asks the fold to stop. */
  cancel?: SharedArrayBuffer;
}

/** The worker's body: open the store, fold, close. Exceptions become SNAPSHOT_FAILED. */
export async function runSnapshotTask(task: SnapshotTask): Promise<WalResult<SnapshotInfo>> {
  const store = openStore({ path: task.dataDir, policy: task.policy });
  const cancel = task.cancel === undefined ? null : new Int32Array(task.cancel);
  try {
    return foldSnapshot(store, {
      clock: Date.now,
      targetLsn: task.targetLsn,
      retainRecords: task.retainRecords,
      cancelled: cancel === null ? undefined : () => Atomics.load(cancel, 0) !== 0,
    });
  } catch (error) {
    return walError('SNAPSHOT_FAILED', String(error));
  } finally {
    await store.close();
  }
}

/** Snapshot pool idle threads exit after this long (a snapshot is minutes apart). */
const SNAPSHOT_THREAD_IDLE_MS = 5_000;
/**
 * A snapshot that has not finished after this long is abandoned (its thread is stopped; a
 * snapshot without its manifest does not exist, so nothing is left half-written). Folding a
 * reference-scale network takes minutes, not an hour.
 */
const SNAPSHOT_TIMEOUT_MS = 60 * 60 * 1000;

/** Takes snapshots in a piscina worker, one at a time; the caller's thread never folds. */
export class Snapshotter {
  private readonly pool: Piscina<SnapshotTask, WalResult<SnapshotInfo>>;
  private running: Promise<WalResult<SnapshotInfo>> | null = null;
  /** The running fold's stop word (shared with its thread); null when none runs. */
  private cancelWord: Int32Array | null = null;

  constructor(
    private readonly dataDir: string,
    private readonly policy: DurabilityPolicy,
    workerFile: URL = compiledWalFile('snapshot-worker.cjs'),
    private readonly retainRecords = 0,
  ) {
    this.pool = new Piscina({
      filename: workerFile.href,
      name: 'default',
      minThreads: 0,
      maxThreads: 1,
      idleTimeout: SNAPSHOT_THREAD_IDLE_MS,
      maxQueue: 1,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
    });
  }

  /** Starts a snapshot; while one runs, answers SNAPSHOT_BUSY. */
  take(targetLsn?: number): Promise<WalResult<SnapshotInfo>> {
    if (this.running !== null) {
      return Promise.resolve(walError('SNAPSHOT_BUSY', 'a snapshot is already being taken'));
    }
    const cancel = new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
    const task: SnapshotTask = {
      dataDir: this.dataDir,
      policy: this.policy,
      targetLsn,
      retainRecords: this.retainRecords,
      cancel,
    };
    const signal = AbortSignal.timeout(SNAPSHOT_TIMEOUT_MS);
    const running = this.pool
      .run(task, { signal })
      .catch((error: Error) => walError('SNAPSHOT_FAILED', `snapshot thread: ${error.message}`))
      .finally(() => {
        this.running = null;
        this.cancelWord = null;
      });
    this.running = running;
    this.cancelWord = new Int32Array(cancel);
    return running;
  }

  /**
   * Asks the running fold, if any, to stop at its next step (see FoldOptions.cancelled); its
   * `take` then answers SNAPSHOT_CANCELLED, or ok if it had already written its manifest.
   * Resolves when it has ended.
   */
  async cancel(): Promise<void> {
    if (this.cancelWord !== null) Atomics.store(this.cancelWord, 0, 1);
    if (this.running !== null) await this.running.catch(() => undefined);
  }

  /** Stops a running fold (`cancel`), then the thread. */
  async close(): Promise<void> {
    await this.cancel();
    await this.pool.destroy();
  }
}
