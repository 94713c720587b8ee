/**
 * Entry point of the snapshot thread (a piscina worker started by `Snapshotter`): one task
 * folds the log into a new snapshot (snapshot.ts) and returns its result.
 *
 * This file is CommonJS on purpose. Piscina first `require`s its entry file and falls back to
 * `import()`; on Node 20 requiring an ES module graph and then importing it can trip an
 * internal assertion ("module imported again after being required") that kills the thread.
 * A CommonJS entry is required cleanly and loads the ES modules with a plain `import()`.
 */

type SnapshotTask = { dataDir: string; policy: string; targetLsn?: number };

export = async function snapshot(task: SnapshotTask): Promise<unknown> {
  const { runSnapshotTask } = await import('./snapshot.js');
  return runSnapshotTask(task as Parameters<typeof runSnapshotTask>[0]);
};
