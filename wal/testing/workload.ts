/**
 * A seeded random workload for the log's tests: a small network (every DC delivers to the
 * customer point), then a mix of stock operations, orders (hold and commit, single-DC and
 * split), retries of earlier orders (idempotency), confirms (full and partial), cancels,
 * extensions, basket changes, fulfilments and expiries driven by a manual clock.
 *
 * Invariants: the same seed, thread tag and engine state give the same operations; every
 * order id is unique to its thread (`tag`), so threads never touch each other's orders but do
 * compete for the same stock counters.
 */

import type {
  Engine,
  EngineConfig,
  Location,
  OrderLineInput,
  PlaceOrderInput,
} from '../../engine/index.js';
import type { Prng } from '../../engine/testing/index.js';

export const WORKLOAD_CONFIG: Partial<EngineConfig> = {
  dcCapacity: 8,
  skuCapacity: 64,
  dcsPerShard: 4,
  orderCapacity: 4096,
  verify: false,
};

export const CUSTOMER: Location = { lat: 12.975, lng: 77.595 };
const ADMIN = { actor: 'workload', reason: 'test' };
export const WORKLOAD_DCS = ['dc-a', 'dc-b', 'dc-c', 'dc-d'];
export const WORKLOAD_SKUS = Array.from({ length: 12 }, (_, i) => `sku-${i}`);

/** A clock the test moves by hand. */
export class ManualClock {
  constructor(public now: number) {}
  read = (): number => this.now;
}

/** Adds the workload's DCs and SKUs (on the catalogue owner thread). */
export function setupNetwork(engine: Engine): void {
  WORKLOAD_DCS.forEach((id, i) => {
    const location = { lat: CUSTOMER.lat + 0.01 * i, lng: CUSTOMER.lng - 0.005 * i };
    const result = engine.upsertDc({ id, name: id, location, radiusKm: 15, prepMinutes: 5 }, ADMIN);
    if (!result.ok) throw new Error(`setup: ${result.error.code}`);
  });
  WORKLOAD_SKUS.forEach((id, i) => {
    const sku = { id, name: id, category: i % 2 ? 'dairy' : 'snacks', lowStockThreshold: 2 };
    const result = engine.upsertSku(sku, ADMIN);
    if (!result.ok) throw new Error(`setup: ${result.error.code}`);
  });
}

export interface WorkloadStats {
  operations: number;
  mutations: number;
  placed: number;
  retried: number;
  /** Tickets of mutating calls, last one last: the caller waits for it before comparing. */
  lastTicket: number;
}

function lines(prng: Prng): OrderLineInput[] {
  const count = prng.range(1, 3);
  const skus = new Set<string>();
  while (skus.size < count) skus.add(prng.pick(WORKLOAD_SKUS));
  return [...skus].map((sku) => ({ sku, qty: prng.range(1, 4) }));
}

/** Runs `operations` random operations against `engine`; orders are tagged with `tag`. */
export function runWorkload(
  engine: Engine,
  prng: Prng,
  clock: ManualClock,
  tag: string,
  operations: number,
): WorkloadStats {
  const placed: PlaceOrderInput[] = [];
  const stats: WorkloadStats = { operations, mutations: 0, placed: 0, retried: 0, lastTicket: 0 };
  const track = (): void => {
    if (engine.lastTicket !== 0) {
      stats.mutations++;
      stats.lastTicket = engine.lastTicket;
    }
  };
  for (let step = 0; step < operations; step++) {
    clock.now += prng.range(0, 50);
    const roll = prng.int(100);
    const known = placed.length > 0 ? prng.pick(placed).orderId : `${tag}-none`;
    if (roll < 15) {
      engine.receive(prng.pick(WORKLOAD_DCS), prng.pick(WORKLOAD_SKUS), prng.range(1, 20), ADMIN);
    } else if (roll < 19) {
      engine.adjust(prng.pick(WORKLOAD_DCS), prng.pick(WORKLOAD_SKUS), prng.range(0, 30), ADMIN);
    } else if (roll < 52) {
      const input: PlaceOrderInput = {
        orderId: `${tag}-${placed.length}`,
        location: CUSTOMER,
        lines: lines(prng),
        mode: prng.chance(0.7) ? 'hold' : 'commit',
        policy: prng.chance(0.5) ? 'single-dc' : 'split',
        ttlSeconds: prng.range(1, 60),
      };
      placed.push(input);
      stats.placed++;
      engine.placeOrder(input);
    } else if (roll < 58 && placed.length > 0) {
      stats.retried++;
      engine.placeOrder(prng.pick(placed));
    } else if (roll < 68) {
      const partial = prng.chance(0.3) ? [{ sku: prng.pick(WORKLOAD_SKUS), qty: 1 }] : undefined;
      engine.confirm(known, partial);
    } else if (roll < 76) {
      engine.cancel(known);
    } else if (roll < 81) {
      engine.extend(known, prng.range(1, 120));
    } else if (roll < 86) {
      engine.changeOrder(known, lines(prng));
    } else if (roll < 90) {
      engine.fulfil(known);
    } else if (roll < 95) {
      clock.now += prng.range(0, 20_000);
      engine.expireDue();
    } else {
      engine.availability(CUSTOMER, WORKLOAD_SKUS.slice(0, 5));
    }
    track();
  }
  return stats;
}

/** The engine's whole state as comparable plain data: catalogue, orders, every counter. */
export function engineSnapshot(engine: Engine): unknown {
  const state = engine.exportState();
  const stock = state.dcs.map((_, dc) => Array.from(engine.exportStockOfDc(dc)));
  return { ...state, stock };
}
