/**
 * lowerThisThreadPriority lowers the calling thread alone: a worker thread that calls it runs
 * at the new nice value while the thread that started it keeps its own (Linux).
 */

import { getPriority } from 'node:os';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { compiledWalFile } from './worker-file.js';

function niceOfWorkerAfterLowering(nice: number): Promise<{ lowered: boolean; nice: number }> {
  const module = compiledWalFile('thread-priority.js').href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    const { getPriority } = require('node:os');
    import(${JSON.stringify(module)}).then(({ lowerThisThreadPriority }) => {
      const lowered = lowerThisThreadPriority(${nice});
      parentPort.postMessage({ lowered, nice: getPriority(0) });
    });`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true });
    worker.once('message', (message) => {
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe.runIf(process.platform === 'linux')('lowerThisThreadPriority', () => {
  it('lowers the calling thread and leaves the others as they were', async () => {
    const before = getPriority(0);
    const target = Math.min(19, before + 10);
    const seen = await niceOfWorkerAfterLowering(target);
    expect(seen).toEqual({ lowered: true, nice: target });
    expect(getPriority(0)).toBe(before);
  });

  it('never raises a thread that is already lower', async () => {
    const seen = await niceOfWorkerAfterLowering(-5);
    expect(seen.lowered).toBe(true);
    expect(seen.nice).toBe(getPriority(0));
  });
});
