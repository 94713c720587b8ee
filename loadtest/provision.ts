/**
 * Loads a load-test dataset into a running node through the admin API, as an ops system
 * would: upsert every DC and SKU, then top every (DC, SKU) cell up to the dataset's stock.
 *
 * Invariants: idempotent (a second run against the same node creates nothing new and only
 * tops up cells that sold below half their stock); at most PROVISION_CONCURRENCY_MAX calls
 * are outstanding at once, well under the SDK's queue and the node's in-flight limits.
 */

import { type ConnectOptions, InventoryClient } from '../protocol/client/index.js';
import type { Dataset } from './workload.js';

/** Calls in flight while provisioning. */
const PROVISION_CONCURRENCY_MAX = 2_048;
const PROVISION_REASON = 'load-test dataset';

export interface ProvisionSummary {
  dcsCreated: number;
  skusCreated: number;
  cellsToppedUp: number;
  unitsReceived: number;
}

/** Runs `task(index)` for index in [0, count) with a bounded number outstanding. */
async function forEachBounded(count: number, task: (index: number) => Promise<void>) {
  for (let start = 0; start < count; start += PROVISION_CONCURRENCY_MAX) {
    const end = Math.min(count, start + PROVISION_CONCURRENCY_MAX);
    const batch: Promise<void>[] = [];
    for (let index = start; index < end; index++) batch.push(task(index));
    await Promise.all(batch);
  }
}

export async function provisionDataset(
  client: InventoryClient,
  dataset: Dataset,
): Promise<ProvisionSummary> {
  const summary: ProvisionSummary = {
    dcsCreated: 0,
    skusCreated: 0,
    cellsToppedUp: 0,
    unitsReceived: 0,
  };
  await forEachBounded(dataset.dcs.length, async (index) => {
    const result = await client.upsertDc(dataset.dcs[index]);
    if (result.created) summary.dcsCreated++;
  });
  await forEachBounded(dataset.skus.length, async (index) => {
    const result = await client.upsertSku(dataset.skus[index]);
    if (result.created) summary.skusCreated++;
  });
  const target = dataset.options.stockPerCell;
  const skuCount = dataset.skus.length;
  await forEachBounded(dataset.dcs.length * skuCount, async (cell) => {
    const dc = dataset.dcs[Math.floor(cell / skuCount)].id;
    const sku = dataset.skus[cell % skuCount].id;
    const { stock } = await client.getStock({ dc, sku });
    if (stock.available >= target / 2) return;
    const qty = target - stock.available;
    await client.receive({ dc, sku, qty, reason: PROVISION_REASON });
    summary.cellsToppedUp++;
    summary.unitsReceived += qty;
  });
  return summary;
}

/**
 * Opens an admin connection to `wsUrl` (no reconnects), provisions `dataset` through it and
 * closes it, whether provisioning succeeded or not.
 */
export async function provisionAt(
  wsUrl: string,
  options: ConnectOptions,
  dataset: Dataset,
): Promise<ProvisionSummary> {
  const admin = await InventoryClient.connect(wsUrl, { reconnect: false, ...options });
  return provisionDataset(admin, dataset).finally(() => admin.close());
}
