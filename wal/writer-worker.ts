/**
 * Entry point of the log writer thread (started by `LogWriter.start`). It owns nothing but the
 * call: the loop lives in writer.ts. The thread blocks in Atomics.wait between batches, so it
 * takes orders through the ring's control words, never through messages.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { runWriter, type WriterConfig, type WriterMessage } from './writer.js';

const port = parentPort;
if (port === null) throw new Error('writer-worker.js must run in a worker thread');
await runWriter(workerData as WriterConfig, (message: WriterMessage) => port.postMessage(message));
