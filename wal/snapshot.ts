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
  loadSnapshot,
  pruneAndCompact,
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
}

/** Builds a private engine holding the state at the newest usable snapshot (or empty). */
export function engineAtBase(
  store: Store,
  config: EngineConfig,
  options: FoldOptions,
): WalResult<{ engine: SnapshotableEngine; baseLsn: number }> {
  const bounds = logBounds(store);
  const chosen = chooseBase(store, bounds?.first ?? null);
  if (!chosen.ok) return walError('SNAPSHOT_CORRUPT', chosen.problem);
  const engine = (options.createEngine ?? createPrivateEngine)(config, options.clock);
  const manifest = chosen.base.manifest;
  if (manifest === null) return { ok: true, value: { engine, baseLsn: 0 } };
  const problem = loadSnapshot(store, manifest, engine);
  if (problem !== null) {
    return walError('SNAPSHOT_CORRUPT', `snapshot at LSN ${manifest.lsn}: ${problem}`);
  }
  return { ok: true, value: { engine, baseLsn: manifest.lsn } };
}

/** Folds the log into a new snapshot in this thread (the worker calls this). */
export function foldSnapshot(store: Store, options: FoldOptions): WalResult<SnapshotInfo> {
  const started = performance.now();
  const meta = readMeta(store);
  if (meta === null) return walError('DATA_DIR_FOREIGN', 'the store has no meta record');
  const bounds = logBounds(store);
  const target = options.targetLsn ?? bounds?.last ?? 0;
  const based = engineAtBase(store, meta.engineConfig, options);
  if (!based.ok) return based;
  const { engine, baseLsn } = based.value;
  if (target <= baseLsn) {
    const pruned = pruneAndCompact(store, options.retainRecords);
    return { ok: true, value: { manifest: null, baseLsn, replayed: 0, ...pruned } };
  }
  const replayed = replayLog(store, engine, {
    afterLsn: baseLsn,
    throughLsn: target,
    tornTail: false,
  });
  if (!replayed.ok) return replayed;
  const manifest = writeSnapshot(store, engine, target, options.clock(), () => {
    return performance.now() - started;
  });
  const pruned = pruneAndCompact(store, options.retainRecords);
  return {
    ok: true,
    value: { manifest, baseLsn, replayed: replayed.value.applied, ...pruned },
  };
}

export interface SnapshotTask {
  dataDir: string;
  policy: DurabilityPolicy;
  targetLsn?: number;
  retainRecords?: number;
}

/** The worker's body: open the store, fold, close. Exceptions become SNAPSHOT_FAILED. */
export async function runSnapshotTask(task: SnapshotTask): Promise<WalResult<SnapshotInfo>> {
  const store = openStore({ path: task.dataDir, policy: task.policy });
  try {
    return foldSnapshot(store, {
      clock: Date.now,
      targetLsn: task.targetLsn,
      retainRecords: task.retainRecords,
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
    const task: SnapshotTask = {
      dataDir: this.dataDir,
      policy: this.policy,
      targetLsn,
      retainRecords: this.retainRecords,
    };
    const signal = AbortSignal.timeout(SNAPSHOT_TIMEOUT_MS);
    const running = this.pool
      .run(task, { signal })
      .catch((error: Error) => walError('SNAPSHOT_FAILED', `snapshot thread: ${error.message}`))
      .finally(() => {
        this.running = null;
      });
    this.running = running;
    return running;
  }

  async close(): Promise<void> {
    if (this.running !== null) await this.running.catch(() => undefined);
    await this.pool.destroy();
  }
}
