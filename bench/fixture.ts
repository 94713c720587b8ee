/**
 * A benchmark network: `dcs` DCs whose delivery areas all cover one customer location (the
 * worst case for availability: every DC in range), `skus` SKUs, and deep stock everywhere so
 * that reservations never run out during a run.
 */

import { commitOrderTable, Engine, type EngineConfig, type OperationLog } from '../engine/index.js';

export const BENCH_CUSTOMER = { lat: 12.9716, lng: 77.5946 };
const UNITS_PER_CELL = 1_000_000_000;

export interface BenchNetworkOptions {
  dcs: number;
  skus: number;
  config?: Partial<EngineConfig>;
  log?: OperationLog;
}

export function benchNetwork(options: BenchNetworkOptions): Engine {
  const engine = Engine.create(
    {
      dcCapacity: Math.max(options.dcs, 1),
      skuCapacity: Math.max(options.skus, 1),
      dcsPerShard: Math.max(1, Math.min(options.dcs, 64)),
      orderCapacity: 1 << 20,
      ...options.config,
    },
    options.log === undefined ? {} : { log: options.log },
  );
  // The figures are the steady state: the order table's pages are committed before the clock
  // runs, not faulted in by the first orders timed (README, "Memory", for that cost).
  commitOrderTable(engine.shared());
  const admin = { actor: 'bench' };
  for (let dc = 0; dc < options.dcs; dc++) {
    // DCs on a small ring around the customer, each reaching it within the hour.
    const angle = (dc / options.dcs) * 2 * Math.PI;
    const location = {
      lat: BENCH_CUSTOMER.lat + 0.02 * Math.sin(angle),
      lng: BENCH_CUSTOMER.lng + 0.02 * Math.cos(angle),
    };
    const result = engine.upsertDc(
      { id: `dc-${dc}`, name: `DC ${dc}`, location, radiusKm: 6 },
      admin,
    );
    if (!result.ok) throw new Error(result.error.message);
  }
  for (let sku = 0; sku < options.skus; sku++) {
    const result = engine.upsertSku(
      { id: `sku-${sku}`, name: `SKU ${sku}`, category: `c${sku % 12}` },
      admin,
    );
    if (!result.ok) throw new Error(result.error.message);
  }
  for (let dc = 0; dc < options.dcs; dc++) {
    for (let sku = 0; sku < options.skus; sku++) {
      engine.receive(`dc-${dc}`, `sku-${sku}`, UNITS_PER_CELL, admin);
    }
  }
  return engine;
}
