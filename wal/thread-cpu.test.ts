import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { ownThreadId, threadCpuSeconds } from './thread-cpu.js';

const linux = process.platform === 'linux';

describe('thread CPU from /proc', () => {
  it.runIf(linux)('names the main thread by the process id and reads its CPU time', () => {
    expect(ownThreadId()).toBe(process.pid);
    const before = threadCpuSeconds(process.pid);
    expect(before).not.toBeNull();
    // Spin until the thread's own counter shows 50 ms more user time (5 ticks), or 3 s pass:
    // a reading that does not follow the thread's CPU never gets there.
    const deadline = performance.now() + 3_000;
    let used = 0;
    while (performance.now() < deadline) {
      for (let spin = 0; spin < 100_000; spin++) used += spin & 1;
      used -= used;
      if (threadCpuSeconds(process.pid)!.userSeconds - before!.userSeconds >= 0.049) break;
    }
    const after = threadCpuSeconds(process.pid);
    expect(after!.userSeconds - before!.userSeconds).toBeGreaterThanOrEqual(0.049);
  });

  it.runIf(linux)('gives a worker thread its own id, readable from the main thread', async () => {
    const worker = new Worker(
      `const { parentPort } = require('node:worker_threads');
       const { readFileSync } = require('node:fs');
       const ticks = () => Number(readFileSync('/proc/thread-self/stat', 'latin1').split(') ')[1].split(' ')[11]);
       const start = ticks(); const until = Date.now() + 3000;
       while (Date.now() < until && ticks() - start < 5) for (let n = 0; n < 100000; n++);
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
    expect(cpu!.userSeconds + cpu!.systemSeconds).toBeGreaterThanOrEqual(0.049);
  });

  it('answers null for a thread that is not ours', () => {
    expect(threadCpuSeconds(-1)).toBeNull();
    expect(threadCpuSeconds(2 ** 30)).toBeNull();
  });
});
