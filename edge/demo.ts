/**
 * The demo network a fresh node serves: generated from a seed (engine/testing), loaded through
 * the engine so every DC, SKU and stock receipt is in the log like any other change, and the
 * ready-to-paste curl commands the node prints at start.
 *
 * Invariants: seeding runs before any worker starts, so no client sees a half-loaded network;
 * it waits for durability every SEED_DURABLE_EVERY records so the log's ring never fills.
 */

import type { Engine, Location } from '../engine/index.js';
import { generateDemoNetwork, type MetroName } from '../engine/testing/index.js';
import type { DemoOptions } from './config.js';
import type { DemoKeys } from './keys.js';
import type { Logger } from './logger.js';
import type { DurableLog } from './operations.js';

/** Records appended between two waits for durability while seeding. */
const SEED_DURABLE_EVERY = 10_000;
const SEED_ACTOR = { actor: 'demo-seed', reason: 'demo network' };

export interface SeedSummary {
  dcs: number;
  skus: number;
  stockRows: number;
}

export async function seedDemoNetwork(
  engine: Engine,
  log: DurableLog,
  demo: DemoOptions,
  logger: Logger,
  /** The metro the network is generated in (a cluster region seeds its own). */
  metro: MetroName = 'bengaluru',
): Promise<SeedSummary> {
  const network = generateDemoNetwork({
    seed: demo.seed,
    dcs: demo.dcs,
    skus: demo.skus,
    metro,
  });
  let appended = 0;
  const settle = async (): Promise<void> => {
    if (++appended % SEED_DURABLE_EVERY === 0) await log.waitDurable(engine.lastTicket);
  };
  const check = (what: string, result: { ok: boolean; error?: { code: string } }): void => {
    if (!result.ok) throw new Error(`seeding ${what} failed: ${result.error?.code}`);
  };
  for (const dc of network.dcs) {
    check(`DC ${dc.id}`, engine.upsertDc(dc, SEED_ACTOR));
    await settle();
  }
  for (const sku of network.skus) {
    check(`SKU ${sku.id}`, engine.upsertSku(sku, SEED_ACTOR));
    await settle();
  }
  let stockRows = 0;
  for (const row of network.stock) {
    if (row.qty <= 0) continue;
    check(`stock ${row.dc}/${row.sku}`, engine.receive(row.dc, row.sku, row.qty, SEED_ACTOR));
    stockRows++;
    await settle();
  }
  await log.waitDurable(log.lastAppendedTicket());
  const summary = { dcs: network.dcs.length, skus: network.skus.length, stockRows };
  logger.info('generated the demo network', { ...summary, seed: demo.seed, metro });
  return summary;
}

/** A location served by the network and a few SKU ids, for the printed examples. */
export function demoExamples(engine: Engine): { location: Location; skus: string[] } | null {
  const records = engine.catalogueRecords();
  let location: Location | null = null;
  const skus: string[] = [];
  for (const record of records) {
    if (record.type === 'dc' && location === null && record.dc.active) {
      location = record.dc.location;
    }
    if (record.type === 'sku' && skus.length < 3) skus.push(record.sku.id);
  }
  return location === null || skus.length === 0 ? null : { location, skus };
}

/** The text printed at start: where the node listens, the keys, and curl commands to try. */
export function startBanner(
  url: string,
  keys: DemoKeys | null,
  examples: { location: Location; skus: string[] } | null,
): string {
  const lines = [
    `inventory node listening on ${url} (WebSocket ${url.replace(/^http/, 'ws')}/v1/ws)`,
  ];
  if (keys === null) {
    lines.push('API keys: from INVENTORY_KEYS / INVENTORY_KEYS_FILE');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    '',
    'API keys (also in <data>/keys.json):',
    `  export READER_KEY=${keys.reader}`,
    `  export ORDERER_KEY=${keys.orderer}`,
    `  export ADMIN_KEY=${keys.admin}`,
  );
  if (examples !== null) {
    const { lat, lng } = examples.location;
    const order = JSON.stringify({
      orderId: 'demo-order-1',
      location: { lat, lng },
      lines: [{ sku: examples.skus[0], qty: 1 }],
      mode: 'hold',
      ttlSeconds: 300,
    });
    lines.push(
      '',
      'Try it:',
      `  curl -s -H "Authorization: Bearer $READER_KEY" \\`,
      `    "${url}/v1/availability?lat=${lat}&lng=${lng}&skus=${examples.skus.join(',')}"`,
      `  curl -s -X POST -H "Authorization: Bearer $ORDERER_KEY" -H 'content-type: application/json' \\`,
      `    -d '${order}' ${url}/v1/orders`,
      `  curl -s -X POST -H "Authorization: Bearer $ORDERER_KEY" ${url}/v1/orders/demo-order-1/confirm`,
      `  curl -s -H "Authorization: Bearer $READER_KEY" ${url}/v1/orders/demo-order-1`,
    );
  }
  return `${lines.join('\n')}\n`;
}
