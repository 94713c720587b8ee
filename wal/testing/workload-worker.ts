/**
 * A test worker thread that runs the seeded workload against the shared engine memory through
 * its own Engine and SharedLog, as an edge worker would, then waits for its last record to be
 * durable. Reports `{ type: 'done', stats }`.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { Engine, type EngineShared, type LogRecord } from '../../engine/index.js';
import { Prng } from '../../engine/testing/index.js';
import { SharedLog } from '../log.js';
import { ManualClock, runWorkload } from './workload.js';

export interface WorkloadTask {
  shared: EngineShared;
  ringBuffer: SharedArrayBuffer;
  catalogue: Extract<LogRecord, { type: 'dc' | 'sku' }>[];
  seed: number;
  stream: number;
  tag: string;
  operations: number;
  clockStart: number;
}

async function main(task: WorkloadTask) {
  const log = new SharedLog(task.ringBuffer);
  const clock = new ManualClock(task.clockStart);
  const engine = Engine.attach(task.shared, { clock: clock.read, log });
  for (const record of task.catalogue) engine.applyCatalogue(record);
  const stats = runWorkload(
    engine,
    new Prng(task.seed, task.stream),
    clock,
    task.tag,
    task.operations,
  );
  await log.waitDurable(stats.lastTicket);
  return stats;
}

const port = parentPort;
if (port === null) throw new Error('workload-worker.js must run in a worker thread');
main(workerData as WorkloadTask).then(
  (stats) => port.postMessage({ type: 'done', stats }),
  (error) => port.postMessage({ type: 'error', message: String(error?.stack ?? error) }),
);
