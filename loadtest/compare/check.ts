/**
 * The comparison's correctness check (`npm run compare -- --check`): before trusting any
 * throughput figure, each system sells out a tiny stock under concurrent 3-line orders and
 * must conserve it: for every SKU, the units of accepted orders equal the units that left the
 * shelves, and no cell goes below zero. A system that took part of a refused order, or sold a
 * unit twice, fails here.
 *
 * Invariants: bounded (a fixed number of orders, far more than the stock, so every cell is
 * contended and many orders are refused); the tiny dataset is separate from the benchmark's.
 */

import { type Dataset, OrderSource, orderMixDefault } from '../workload.js';
import type { PlaceOrder, SystemUnderTest } from './systems.js';

export const CHECK_DATASET = { dcs: 2, skus: 6, stockPerCell: 40 } as const;
const CHECK_ORDERS = 2_000;
export const CHECK_CONCURRENCY = 32;
const CHECK_CONNECTIONS = 4;
const CHECK_QTY_MAX = 3;

export interface CheckReport {
  system: string;
  accepted: number;
  refused: number;
  /** Per SKU: units in accepted orders, units that left the shelves (all DCs). */
  skus: { sku: string; sold: number; taken: number }[];
  failures: string[];
}

async function placeAll(
  place: readonly PlaceOrder[],
  source: OrderSource,
  soldBySku: Int32Array,
): Promise<{ accepted: number; refused: number; errors: string[] }> {
  let issued = 0;
  let accepted = 0;
  let refused = 0;
  const errors: string[] = [];
  const buyer = async (placeOne: PlaceOrder) => {
    while (issued < CHECK_ORDERS) {
      issued++;
      const draw = source.next();
      const skus = [...draw.skuIndexes];
      const quantities = [...draw.quantities];
      try {
        const taken = await placeOne({
          dcIndex: draw.dcIndex,
          skuIndexes: skus,
          quantities,
        });
        if (!taken) {
          refused++;
          continue;
        }
        accepted++;
        for (let line = 0; line < skus.length; line++) soldBySku[skus[line]] += quantities[line];
      } catch (error) {
        errors.push(String(error));
      }
    }
  };
  const buyers: Promise<void>[] = [];
  for (let index = 0; index < CHECK_CONCURRENCY; index++) {
    buyers.push(buyer(place[index % place.length]));
  }
  await Promise.all(buyers);
  return { accepted, refused, errors };
}

/** Runs the check on a system loaded with a dataset of CHECK_DATASET's shape. */
export async function checkConservation(
  system: SystemUnderTest,
  dataset: Dataset,
): Promise<CheckReport> {
  const mix = { ...orderMixDefault(), qtyPerLineMax: CHECK_QTY_MAX };
  const source = new OrderSource(dataset, mix, 0);
  const soldBySku = new Int32Array(dataset.skus.length);
  const clients = await system.openOrders(CHECK_CONCURRENCY, CHECK_CONNECTIONS);
  let outcome: Awaited<ReturnType<typeof placeAll>>;
  try {
    outcome = await placeAll(clients.place, source, soldBySku);
  } finally {
    await clients.close();
  }
  const failures = outcome.errors.slice(0, 5).map((error) => `error: ${error}`);
  const skus: CheckReport['skus'] = [];
  for (let index = 0; index < dataset.skus.length; index++) {
    const sku = dataset.skus[index].id;
    let taken = 0;
    for (const dc of dataset.dcs) {
      const available = await system.readAvailable(dc.id, sku);
      if (!(available >= 0)) failures.push(`${dc.id}/${sku}: available ${available}`);
      taken += dataset.options.stockPerCell - available;
    }
    skus.push({ sku, sold: soldBySku[index], taken });
    if (taken !== soldBySku[index]) {
      failures.push(`${sku}: accepted orders hold ${soldBySku[index]} units, ${taken} left stock`);
    }
  }
  if (outcome.refused === 0) failures.push('no order was refused: the stock was never contended');
  return {
    system: system.name,
    accepted: outcome.accepted,
    refused: outcome.refused,
    skus,
    failures,
  };
}
