import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ownThreadId, threadCpuSeconds } from './thread-cpu.js';

const linux = process.platform === 'linux';

describe('thread CPU from /proc', () => {
  it.runIf(linux)('names the main thread by the process id and reads its CPU time', () => {
    expect(ownThreadId()).toBe(process.pid);
    const before = threadCpuSeconds(process.pid);
    let spin = 0;
    const until = performance.now() + 120;
    while (performance.now() < until) spin++;
    const after = threadCpuSeconds(process.pid);
    expect(spin).toBeGreaterThan(0);
    expect(before).not.toBeNull();
    // 120 ms of spinning shows as at least 5 ticks (10 ms each) of user time.
    expect(after!.userSeconds - before!.userSeconds).toBeGreaterThanOrEqual(0.05);
  });

  it.runIf(linux)('gives a worker thread its own id, readable from the main thread', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { readFileSync } = require('node:fs');
       const until = Date.now() + 150; let n = 0; while (Date.now() < until) n++;
       parentPort.postMessage(Number.parseInt(readFileSync('/proc/thread-self/stat', 'latin1'), 10));
       parentPort.once('message', () => parentPort.close());`,
      { eval: true },
    );
    const id = await new Promise<number>((resolve) => worker.once('message', resolve));
    expect(id).not.toBe(process.pid);
    // The worker stays alive until told to end: a finished thread has no /proc entry.
    const cpu = threadCpuSeconds(id);
    worker.postMessage('end');
    await new Promise((resolve) => worker.once('exit', resolve));
    expect(cpu).not.toBeNull();
    expect(cpu!.userSeconds + cpu!.systemSeconds).toBeGreaterThanOrEqual(0.05);
  });

  it('answers null for a thread that is not ours', () => {
    expect(threadCpuSeconds(-1)).toBeNull();
    expect(threadCpuSeconds(2 ** 30)).toBeNull();
  });
});
