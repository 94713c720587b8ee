/**
 * A runnable SDK example against a running node:
 *
 *   npm run build
 *   node dist/protocol/client/example.js ws://127.0.0.1:8080/v1/ws <orderer key> <sku> [lat lng]
 *
 * It asks what is deliverable near the location, holds one unit of the SKU, then cancels
 * the hold, printing each answer; a refusal is printed with its code.
 */

import { randomUUID } from 'node:crypto';
import { InventoryClient } from './client.js';
import { InventoryError } from './errors.js';

async function main(argv: readonly string[]): Promise<number> {
  const [url, apiKey, sku, lat = '12.9716', lng = '77.5946'] = argv;
  if (url === undefined || apiKey === undefined || sku === undefined) {
    console.error('usage: example.js <ws url> <api key> <sku> [lat lng]');
    return 2;
  }
  const location = { lat: Number(lat), lng: Number(lng) };
  const client = await InventoryClient.connect(url, { apiKey, timeoutMs: 5_000 });
  try {
    console.log('connected:', client.server);
    const { skus } = await client.availability({ ...location, skus: [sku] });
    console.log('availability:', JSON.stringify(skus[sku]));
    const orderId = `example-${randomUUID()}`;
    const lines = [{ sku, qty: 1 }];
    const placed = await client.placeOrder({ orderId, location, lines, mode: 'hold' });
    console.log('held:', JSON.stringify(placed.order));
    const cancelled = await client.cancel({ orderId });
    console.log('cancelled:', cancelled.order.status);
    return 0;
  } catch (error) {
    if (!(error instanceof InventoryError)) throw error;
    console.error(`refused: ${error.code}: ${error.message}`, error.lines ?? '');
    return 1;
  } finally {
    await client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
