/**
 * Helpers for tests that run real threads: start a compiled test worker and collect its one
 * report. Test workers live under dist/wal/testing/ (tests build before they run).
 */

import { Worker } from 'node:worker_threads';
import { compiledWalFile } from '../worker-file.js';

/** Runs `dist/wal/testing/<name>` with `workerData`; resolves with its `done` message. */
export function runTestWorker<T>(name: string, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(compiledWalFile(`testing/${name}`), { workerData });
    let settled = false;
    worker.on('message', (message: { type: string; message?: string }) => {
      settled = true;
      if (message.type === 'done') resolve(message as T);
      else reject(new Error(message.message ?? 'test worker failed'));
      void worker.terminate();
    });
    worker.on('error', (error) => {
      settled = true;
      reject(error);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new Error(`test worker exited with code ${code}`));
    });
  });
}
