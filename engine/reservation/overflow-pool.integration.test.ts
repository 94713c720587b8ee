/**
 * Threads sharing one overflow pool: each takes chains, fills every entry of its blocks with
 * its own mark, checks the marks a while later and gives the chains back. A block handed to
 * two threads at once shows up as a foreign mark; a block lost or listed twice shows up in
 * the pool's accounting. Build first (`npm test` does): the threads run the compiled dist/.
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { describeSeed, seedFromEnv } from '../testing/prng.js';
import { allocateOverflowPool, OverflowPool } from './overflow-pool.js';

const POOL = resolve(import.meta.dirname, '../../dist/engine/reservation/overflow-pool.js');
const PRNG = resolve(import.meta.dirname, '../../dist/engine/testing/prng.js');
const THREADS = 3;
const BLOCKS = 256;
const STEPS = 200_000;

/** One thread's loop, as a module evaluated in a worker: returns its problems. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  const { OverflowPool, NO_BLOCK, POOL_SHORT, BLOCK_INTS, BLOCK_ENTRIES_INT } = await import(workerData.pool);
  const { Prng } = await import(workerData.prng);
  const pool = new OverflowPool(workerData.buffers, workerData.blocks, 5_000);
  const random = new Prng(workerData.seed, workerData.thread);
  const mark = workerData.thread + 1;
  const held = [];
  const problems = [];
  const each = (head, visit) => {
    for (let block = head; block !== NO_BLOCK; block = pool.next(block)) {
      for (let at = BLOCK_ENTRIES_INT; at < BLOCK_INTS; at++) visit(block * BLOCK_INTS + at);
    }
  };
  for (let step = 0; step < workerData.steps && problems.length < 5; step++) {
    if (held.length > 0 && (held.length > 8 || random.int(2) === 0)) {
      const head = held.splice(random.int(held.length), 1)[0];
      each(head, (at) => {
        if (pool.ints[at] !== mark) problems.push('thread ' + mark + ': block entry ' + at + ' holds ' + pool.ints[at]);
      });
      pool.free(head);
      continue;
    }
    const head = pool.take(1 + random.int(4));
    if (head === POOL_SHORT) continue;
    each(head, (at) => { pool.ints[at] = mark; });
    held.push(head);
  }
  for (const head of held) pool.free(head);
  parentPort.postMessage(problems);
})().catch((error) => parentPort.postMessage([String(error)]));
`;

function run(workerData: object): Promise<string[]> {
  return new Promise((done, failed) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    worker.once('message', done);
    worker.once('error', failed);
  });
}

describe('the overflow pool under threads', () => {
  it('hands each block to one owner at a time and loses none', async () => {
    expect(existsSync(POOL), 'run `npm run build` first').toBe(true);
    const seed = seedFromEnv();
    const buffers = allocateOverflowPool(BLOCKS);
    const problems = await Promise.all(
      Array.from({ length: THREADS }, (_, thread) =>
        run({ pool: POOL, prng: PRNG, buffers, blocks: BLOCKS, seed, thread, steps: STEPS }),
      ),
    );
    expect(problems.flat(), describeSeed(seed)).toEqual([]);
    const pool = new OverflowPool(buffers, BLOCKS, 1_000);
    expect(pool.blocksInUse(), describeSeed(seed)).toBe(0);
    expect(pool.checkAccounting(0), describeSeed(seed)).toEqual([]);
    // Every thread wrote its mark into blocks the others also used: the last marks left in
    // the pool come from all of them.
    const marks = new Set(Array.from(pool.ints).filter((value) => value > 0 && value <= THREADS));
    expect(marks.size, describeSeed(seed)).toBe(THREADS);
  }, 60_000);
});
