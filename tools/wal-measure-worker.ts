/**
 * One producer thread of tools/wal-measure.ts: appends `records` order records through a
 * SharedLog as an edge worker would, keeping at most `inFlightMax` acknowledgements pending, and
 * measures each record's acknowledgement latency (append → waitDurable resolved).
 * Reports `{ type: 'done', seconds, latencyMicros: { p50, p99, max } }`.
 */

import { parentPort, workerData } from 'node:worker_threads';
import type { LogRecord } from '../engine/index.js';
import { SharedLog } from '../wal/index.js';

export interface MeasureTask {
  ringBuffer: SharedArrayBuffer;
  producer: number;
  records: number;
  inFlightMax: number;
}

/** A place record of typical size (3 lines, ids of realistic length): about 160 bytes. */
function placeRecord(producer: number, sequence: number): LogRecord {
  return {
    type: 'place',
    at: 1_700_000_000_000 + sequence,
    orderId: `order-${producer}-${sequence.toString().padStart(10, '0')}`,
    mode: 0,
    policy: 0,
    lat: 12.9716,
    lng: 77.5946,
    etaMinutes: 14.5,
    expiresAt: 1_700_000_600_000 + sequence,
    fingerprint: (sequence * 2_654_435_761) | 0,
    allocation: [3, 1201, 2, 3, 877, 1, 3, 44, 3],
  };
}

async function main(task: MeasureTask) {
  const log = new SharedLog(task.ringBuffer);
  const latencies = new Float64Array(task.records);
  // A sliding window: at most inFlightMax acknowledgements pending, oldest awaited first,
  // as a pipelining client keeps its connection busy.
  const pending: Promise<void>[] = new Array(task.records);
  let oldest = 0;
  const started = performance.now();
  for (let sequence = 0; sequence < task.records; sequence++) {
    // Backpressure as the edge applies it: refuse (here: wait) while the ring has no room.
    while (!log.writable()) await new Promise((resolve) => setTimeout(resolve, 1));
    const appendedAt = performance.now();
    const ticket = log.append(placeRecord(task.producer, sequence));
    pending[sequence] = log.waitDurable(ticket).then(() => {
      latencies[sequence] = performance.now() - appendedAt;
    });
    if (sequence + 1 - oldest >= task.inFlightMax) await pending[oldest++];
  }
  while (oldest < task.records) await pending[oldest++];
  const seconds = (performance.now() - started) / 1000;
  log.close();
  latencies.sort();
  const at = (fraction: number) => latencies[Math.floor((latencies.length - 1) * fraction)] * 1000;
  return { seconds, latencyMicros: { p50: at(0.5), p99: at(0.99), max: at(1) } };
}

const port = parentPort;
if (port === null) throw new Error('wal-measure-worker.js must run in a worker thread');
main(workerData as MeasureTask).then(
  (result) => port.postMessage({ type: 'done', ...result }),
  (error) => port.postMessage({ type: 'error', message: String(error?.stack ?? error) }),
);
