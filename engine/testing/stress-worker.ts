/**
 * One thread of the engine stress test: a seeded random mix of placements (some on order ids
 * the other threads race for), retries, confirms in full and in part, cancels, basket changes,
 * extends, fulfils and receipts, against an Engine attached to the shared memory.
 *
 * It reports what the checker cannot read back from the engine: the ids this thread created,
 * the units it received per cell, and any contract violation it saw on the way.
 */

import { parentPort, workerData } from 'node:worker_threads';
import { Engine } from '../engine.js';
import type { EngineShared } from '../memory.js';
import type { LogRecord } from '../log.js';
import type { Location, OrderResult, PlaceOrderInput } from '../types.js';
import { Prng } from './prng.js';

export interface StressInput {
  shared: EngineShared;
  /** A shared virtual clock: ms since `clockBase`, advanced by the checker's thread. */
  clock: SharedArrayBuffer;
  clockBase: number;
  catalogue: Extract<LogRecord, { type: 'dc' | 'sku' }>[];
  seed: number;
  thread: number;
  threads: number;
  operations: number;
  /** Ids `shared-0 .. shared-(contested - 1)` are placed by every thread. */
  contested: number;
  location: Location;
}

export interface StressOutput {
  created: string[];
  /** Units received, flat by dc * skuCount + sku. */
  received: number[];
  outcomes: Record<string, number>;
  violations: string[];
}

function run(input: StressInput): StressOutput {
  const elapsed = new Int32Array(input.clock);
  const engine = Engine.attach(input.shared, {
    clock: () => input.clockBase + Atomics.load(elapsed, 0),
  });
  for (const record of input.catalogue) engine.applyCatalogue(record);
  const prng = new Prng(input.seed, input.thread);
  const dcs = input.catalogue
    .filter((record) => record.type === 'dc')
    .map((record) => record.dc.id);
  const skus = input.catalogue
    .filter((record) => record.type === 'sku')
    .map((record) => record.sku.id);
  const output: StressOutput = {
    created: [],
    received: new Array(dcs.length * skus.length).fill(0),
    outcomes: {},
    violations: [],
  };
  const bodies = new Map<string, PlaceOrderInput>();
  let next = 0;

  const body = (orderId: string, random: Prng): PlaceOrderInput => {
    const lines = random.shuffle(skus.slice()).slice(0, random.range(1, 3));
    return {
      orderId,
      location: input.location,
      lines: lines.map((sku) => ({ sku, qty: random.range(1, 3) })),
      mode: random.chance(0.7) ? 'hold' : 'commit',
      policy: random.chance(0.5) ? 'split' : 'single-dc',
      ttlSeconds: 1,
    };
  };
  const tally = (op: string, result: OrderResult | { ok: boolean; error?: { code: string } }) => {
    const key = `${op}:${result.ok ? 'ok' : result.error?.code}`;
    output.outcomes[key] = (output.outcomes[key] ?? 0) + 1;
  };
  const someOrder = (): string => {
    const thread = prng.int(input.threads);
    return `${thread}-${prng.int(Math.max(1, next))}`;
  };

  for (let operation = 0; operation < input.operations; operation++) {
    const roll = prng.next();
    if (roll < 0.33) {
      const orderId = `${input.thread}-${next++}`;
      const order = body(orderId, prng);
      const result = engine.placeOrder(order);
      tally('place', result);
      if (result.ok) {
        if (!result.created) output.violations.push(`${orderId}: fresh id answered as a retry`);
        output.created.push(orderId);
        bodies.set(orderId, order);
      }
    } else if (roll < 0.38) {
      const orderId = `shared-${prng.int(input.contested)}`;
      // Every thread builds the same body for a contested id, so a second placement is a retry.
      const result = engine.placeOrder(
        body(orderId, new Prng(input.seed ^ 0x5eed, Number(orderId.slice(7)))),
      );
      tally('contested', result);
      if (result.ok && result.created) output.created.push(orderId);
    } else if (roll < 0.43 && output.created.length > 0) {
      const orderId = prng.pick(output.created);
      const order = bodies.get(orderId);
      if (order === undefined) continue;
      const result = engine.placeOrder(order);
      tally('retry', result);
      if (result.ok && result.created) output.violations.push(`${orderId}: retry reserved again`);
      if (!result.ok) output.violations.push(`${orderId}: retry refused ${result.error.code}`);
    } else if (roll < 0.55) {
      tally('confirm', engine.confirm(someOrder()));
    } else if (roll < 0.58) {
      tally('confirm-part', engine.confirm(someOrder(), [{ sku: prng.pick(skus), qty: 1 }]));
    } else if (roll < 0.7) {
      tally('cancel', engine.cancel(someOrder()));
    } else if (roll < 0.78) {
      const lines = prng.shuffle(skus.slice()).slice(0, prng.range(1, 3));
      tally(
        'change',
        engine.changeOrder(
          someOrder(),
          lines.map((sku) => ({ sku, qty: prng.range(1, 4) })),
        ),
      );
    } else if (roll < 0.82) {
      tally('extend', engine.extend(someOrder(), 1));
    } else if (roll < 0.95) {
      tally('fulfil', engine.fulfil(someOrder()));
    } else if (roll < 0.98) {
      const dc = prng.int(dcs.length);
      const sku = prng.int(skus.length);
      const qty = prng.range(1, 20);
      const result = engine.receive(dcs[dc], skus[sku], qty, { actor: `stress-${input.thread}` });
      tally('receive', result);
      if (result.ok) output.received[dc * skus.length + sku] += qty;
    } else {
      const result = engine.getStock(prng.pick(dcs), prng.pick(skus));
      if (result.ok && result.stock.shortfall !== 0)
        output.violations.push('a counter went below zero');
      if (result.ok && result.stock.onHand < 0) output.violations.push('on-hand went below zero');
    }
  }
  return output;
}

if (parentPort !== null) {
  parentPort.postMessage(run(workerData as StressInput));
}
