/**
 * Several real worker threads hammer a few hot SKUs through engines attached to the same
 * shared memory, while this thread expires holds. Afterwards, for every DC × SKU:
 *   initial + received = available + held + confirmed + picked,
 * no counter is below zero, the counters agree with the order table, and no order id was
 * created twice. Build first (`npm test` does): the threads run the compiled dist/ code.
 */

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { EngineConfig } from './config.js';
import { Engine } from './engine.js';
import { STATE_CONFIRMED, STATE_FULFILLED, STATE_HELD } from './reservation/order-table.js';
import { describeSeed, seedFromEnv } from './testing/prng.js';
import type { StressInput, StressOutput } from './testing/stress-worker.js';

const WORKER = resolve(import.meta.dirname, '../dist/engine/testing/stress-worker.js');
const THREADS = 2;
const OPERATIONS_PER_THREAD = 150_000;
const INITIAL_UNITS = 400;
const LOCATION = { lat: 12.975, lng: 77.595 };
/** Virtual milliseconds per 2 ms tick: a 1 s hold lasts about 40 ms of real time. */
const VIRTUAL_MS_PER_TICK = 50;

function runWorker(input: StressInput): Promise<StressOutput> {
  return new Promise((done, failed) => {
    const worker = new Worker(WORKER, { workerData: input });
    worker.once('message', done);
    worker.once('error', failed);
    worker.once('exit', (code) => {
      if (code !== 0) failed(new Error(`stress worker exited with ${code}`));
    });
  });
}

describe('engine under concurrent threads', () => {
  it('conserves stock on hot SKUs across threads, with expiry racing', async () => {
    const outcomes = await stress({}, OPERATIONS_PER_THREAD);
    expect(outcomes['place:CONTENDED'] ?? 0).toBe(0);
  }, 120_000);
});

/** Runs the stress mix on a fresh engine, checks every invariant, returns the outcomes. */
async function stress(
  overrides: Partial<EngineConfig>,
  operations: number,
): Promise<Record<string, number>> {
  {
    expect(existsSync(WORKER), 'run `npm run build` first').toBe(true);
    const seed = seedFromEnv();
    // Virtual time shared by every thread and advanced here, so holds expire (and race the
    // other operations) however fast or slow the machine runs the workload.
    const clock = new SharedArrayBuffer(4);
    const elapsed = new Int32Array(clock);
    const clockBase = Date.now();
    const engine = Engine.create(
      {
        dcCapacity: 4,
        skuCapacity: 8,
        dcsPerShard: 2,
        orderCapacity: 1 << 20,
        linesPerOrderMax: 4,
        allocationsPerOrderMax: 12,
        ...overrides,
      },
      { clock: () => clockBase + Atomics.load(elapsed, 0) },
    );
    const admin = { actor: 'stress-setup' };
    const dcs = [
      { id: 'dc-a', location: { lat: 12.97, lng: 77.59 } },
      { id: 'dc-b', location: { lat: 12.98, lng: 77.6 } },
      { id: 'dc-c', location: { lat: 12.96, lng: 77.58 } },
    ];
    for (const dc of dcs) engine.upsertDc({ ...dc, name: dc.id, radiusKm: 5 }, admin);
    const skus = ['hot-1', 'hot-2', 'hot-3', 'hot-4'];
    for (const sku of skus) engine.upsertSku({ id: sku, name: sku }, admin);
    for (const dc of dcs) for (const sku of skus) engine.receive(dc.id, sku, INITIAL_UNITS, admin);

    const sweeper = setInterval(() => {
      Atomics.add(elapsed, 0, VIRTUAL_MS_PER_TICK);
      engine.expireDue();
    }, 2);
    const outputs = await Promise.all(
      Array.from({ length: THREADS }, (_, thread) =>
        runWorker({
          shared: engine.shared(),
          clock,
          clockBase,
          catalogue: engine.catalogueRecords(),
          seed,
          thread,
          threads: THREADS,
          operations,
          contested: 2_000,
          location: LOCATION,
        }),
      ),
    ).finally(() => clearInterval(sweeper));

    const context = describeSeed(seed);
    expect(
      outputs.flatMap((output) => output.violations),
      context,
    ).toEqual([]);
    const created = outputs.flatMap((output) => output.created);
    expect(new Set(created).size, `${context}: an order id was created twice`).toBe(created.length);

    // Rebuild held / confirmed / picked per cell from the order table.
    const state = engine.exportState();
    expect(state.orders.length, `${context}: every created order is in the table`).toBe(
      created.length,
    );
    const cellsOf = (dc: number, sku: number) => dc * skus.length + sku;
    const held = new Array(dcs.length * skus.length).fill(0);
    const confirmed = held.slice();
    const picked = held.slice();
    for (const order of state.orders) {
      const into =
        order.state === STATE_HELD
          ? held
          : order.state === STATE_CONFIRMED
            ? confirmed
            : order.state === STATE_FULFILLED
              ? picked
              : null;
      if (into === null) continue;
      for (let at = 0; at < order.allocation.length; at += 3) {
        into[cellsOf(order.allocation[at], order.allocation[at + 1])] += order.allocation[at + 2];
      }
    }
    for (let dc = 0; dc < dcs.length; dc++) {
      const counters = engine.exportStockOfDc(dc);
      for (let sku = 0; sku < skus.length; sku++) {
        const cell = cellsOf(dc, sku);
        const received = outputs.reduce((sum, output) => sum + output.received[cell], 0);
        const available = counters[sku * 2];
        expect(
          available,
          `${context}: ${dcs[dc].id}/${skus[sku]} below zero`,
        ).toBeGreaterThanOrEqual(0);
        expect(
          INITIAL_UNITS + received,
          `${context}: conservation at ${dcs[dc].id}/${skus[sku]}`,
        ).toBe(available + held[cell] + confirmed[cell] + picked[cell]);
      }
    }
    expect(engine.checkInvariants(), context).toEqual([]);

    // The mix really exercised the races it claims to.
    const outcomes: Record<string, number> = {};
    for (const output of outputs) {
      for (const [key, count] of Object.entries(output.outcomes))
        outcomes[key] = (outcomes[key] ?? 0) + count;
    }
    for (const key of [
      'place:ok',
      'place:OUT_OF_STOCK',
      'contested:ok',
      'confirm:ok',
      'cancel:ok',
      'change:ok',
      'fulfil:ok',
    ]) {
      expect(outcomes[key] ?? 0, `${context}: ${key}`).toBeGreaterThan(0);
    }
    expect(
      state.orders.some((order) => order.state === 4),
      `${context}: some holds expired`,
    ).toBe(true);
    return outcomes;
  }
}
