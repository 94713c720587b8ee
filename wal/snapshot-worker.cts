/**
 * Entry point of the snapshot thread (a piscina worker started by `Snapshotter`): one task
 * folds the log into a new snapshot (snapshot.ts) and returns its result.
 *
 * The thread first lowers its own CPU priority (thread-priority.ts, Linux only) to nice
 * SNAPSHOT_THREAD_NICE: folding a million records is seconds of CPU, and on a node whose
 * cores are busy answering, the fold should take their spare time, not the answers'
 * (loadtest/RESULTS.md).
 *
 * This file is CommonJS on purpose. Piscina first `require`s its entry file and falls back to
 * `import()`; on Node 20 requiring an ES module graph and then importing it can trip an
 * internal assertion ("module imported again after being required") that kills the thread.
 * A CommonJS entry is required cleanly and loads the ES modules with a plain `import()`.
 */

/** The snapshot thread's nice value: well below the answering threads (0), above idle (19). */
const SNAPSHOT_THREAD_NICE = 10;

type SnapshotTask = {
  dataDir: string;
  policy: string;
  targetLsn?: number;
  retainRecords?: number;
  cancel?: SharedArrayBuffer;
};

export = async function snapshot(task: SnapshotTask): Promise<unknown> {
  const { lowerThisThreadPriority } = await import('./thread-priority.js');
  lowerThisThreadPriority(SNAPSHOT_THREAD_NICE);
  const { runSnapshotTask } = await import('./snapshot.js');
  return runSnapshotTask(task as Parameters<typeof runSnapshotTask>[0]);
};
