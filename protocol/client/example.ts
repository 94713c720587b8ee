/**
 * A runnable SDK example against a running node:
 *
 *   npm run build
 *   node dist/protocol/client/example.js ws://127.0.0.1:8080/v1/ws <orderer key> <sku> [lat lng]
 *
 * It asks what is deliverable near the location, holds one unit of the SKU, then cancels
 * the hold, printing each answer; a refusal is printed with its code. Then the same as a
 * batch: two holds in one `placeOrders` (one of them asking for more than there is), read
 * through the batch's view, and the one placed is cancelled.
 */

import { ExitCodes } from '../code-registry.js';
import { randomUUID } from 'node:crypto';
import { InventoryClient } from './client.js';
import { InventoryError } from './errors.js';

const USAGE = `Usage: node dist/protocol/client/example.js <ws url> <api key> <sku> [lat lng]

  Asks what is deliverable near lat, lng (default 12.9716 77.5946), holds one unit of <sku>
  there with <api key> (an orderer key), then cancels the hold.
  -h, --help   this text
`;
/** sysexits EX_USAGE, as every program of the project answers a bad command line. */
const EXIT_USAGE = ExitCodes.USAGE;

/**
 * The arguments, or an exit status. Kept free of the project's shared command-line helper so
 * the example reads on its own; it answers --help and unknown flags the same way.
 */
function readArgs(argv: readonly string[]): string[] | number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  // A flag starts with a dash and is not a number (a coordinate may be negative).
  const flag = argv.find((arg) => arg.startsWith('-') && Number.isNaN(Number(arg)));
  const problem =
    flag !== undefined
      ? `Unknown option '${flag}'`
      : argv.length < 3
        ? 'give a WebSocket URL, an API key and a SKU'
        : argv.length > 5
          ? `unexpected argument '${argv[5]}'`
          : null;
  if (problem === null) return [...argv];
  process.stderr.write(`${problem}\n\n${USAGE}`);
  return EXIT_USAGE;
}

async function main(argv: readonly string[]): Promise<number> {
  const args = readArgs(argv);
  if (typeof args === 'number') return args;
  const [url, apiKey, sku, lat = '12.9716', lng = '77.5946'] = args;
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
    await batchExample(client, location, sku);
    return 0;
  } catch (error) {
    if (!(error instanceof InventoryError)) throw error;
    console.error(`refused: ${error.code}: ${error.message}`, error.lines ?? '');
    return 1;
  } finally {
    await client.close();
  }
}

/** The batch API: many orders in one call, their answers read from typed columns. */
async function batchExample(
  client: InventoryClient,
  location: { lat: number; lng: number },
  sku: string,
): Promise<void> {
  const view = await client.availabilityMany([{ ...location, skus: [sku] }]);
  console.log('DCs in range:', view.dcCount(0), 'available:', view.available(0, 0));
  const orders = [1, 2_000_000_000].map((qty) => ({
    orderId: `example-${randomUUID()}`,
    location,
    lines: [{ sku, qty }],
    mode: 'hold' as const,
  }));
  const batch = await client.placeOrders(orders);
  for (let index = 0; index < batch.count; index++) {
    if (batch.refused(index)) {
      console.log(`order ${index}: refused ${batch.error(index)?.code}`);
      continue;
    }
    console.log(`order ${index}: ${batch.result(index)}, ${batch.status(index)}`);
    await client.cancel({ orderId: orders[index].orderId });
  }
}

process.exitCode = await main(process.argv.slice(2));
