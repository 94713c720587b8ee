/**
 * A test producer thread: attaches to a log ring and appends `count` numbered records, either
 * as raw frames (`raw`, to test the ring alone) or through a `SharedLog` (`log`, waiting for
 * the last one to be durable). Each record names its producer and sequence number, so the
 * reader can check that every record arrives once and in order per producer.
 *
 * Reports `{ type: 'done', tickets }` (the first and last ticket) or `{ type: 'error' }`.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { crc32 } from '../crc32.js';
import { SharedLog } from '../log.js';
import { LogRing } from '../ring.js';
import { testRecord } from './records.js';

export interface ProducerTask {
  ringBuffer: SharedArrayBuffer;
  producer: number;
  count: number;
  mode: 'raw' | 'log';
  /** Payload bytes of raw frames beyond the 8-byte header (varies frame sizes and wraps). */
  rawExtraBytesMax?: number;
}

async function main(task: ProducerTask): Promise<number[]> {
  if (task.mode === 'raw') {
    const ring = new LogRing(task.ringBuffer);
    const extraMax = task.rawExtraBytesMax ?? 64;
    const buffer = new Uint8Array(8 + extraMax);
    const view = new DataView(buffer.buffer);
    const tickets: number[] = [];
    for (let sequence = 0; sequence < task.count; sequence++) {
      view.setUint32(0, task.producer, true);
      view.setUint32(4, sequence, true);
      const extra = (sequence * 7919 + task.producer * 31) % (extraMax + 1);
      for (let i = 0; i < extra; i++) buffer[8 + i] = (sequence + i) & 0xff;
      const length = 8 + extra;
      const ticket = ring.append(buffer, 0, length, crc32(buffer, 0, length));
      if (sequence === 0 || sequence === task.count - 1) tickets.push(ticket);
    }
    return tickets;
  }
  const log = new SharedLog(task.ringBuffer);
  let first = 0;
  let last = 0;
  for (let sequence = 0; sequence < task.count; sequence++) {
    last = log.append(testRecord(task.producer, sequence));
    if (sequence === 0) first = last;
  }
  await log.waitDurable(last);
  return [first, last];
}

const port = parentPort;
if (port === null) throw new Error('producer-worker.js must run in a worker thread');
main(workerData as ProducerTask).then(
  (tickets) => port.postMessage({ type: 'done', tickets }),
  (error) => port.postMessage({ type: 'error', message: String(error?.stack ?? error) }),
);
