/**
 * Entry point of the snapshot thread (a piscina worker started by `Snapshotter`): one task
 * folds the log into a new snapshot (snapshot.ts) and returns its result.
 */

import { runSnapshotTask, type SnapshotTask } from './snapshot.js';

export default function snapshot(task: SnapshotTask) {
  return runSnapshotTask(task);
}
