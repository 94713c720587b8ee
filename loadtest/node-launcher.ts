/**
 * A node launcher for load tests: the node's own command line (edge/config.ts parseCli, the
 * same flags as `npm start`) plus `--order-capacity <slots>`, which sizes the engine's order
 * table. Committed orders stay live until fulfilled, so a sustained run of 100,000 orders/s
 * needs millions of slots where the default table holds a few hundred thousand; the load tests
 * start their node through this file when they need a larger table.
 *
 * Prints the same "listening on <url>" line as the node's main and stops gracefully on
 * SIGTERM or SIGINT (a second signal exits at once).
 */

import {
  OptionsError,
  parseCli,
  startNode,
  stopOnSignals,
  USAGE as NODE_USAGE,
} from '../edge/index.js';
import { EXIT_USAGE } from './cli.js';
import { takeOrderCapacity } from './node-launcher-args.js';

export const USAGE = `Usage: node dist/loadtest/node-launcher.js [--order-capacity <n>] [node flags]

  --order-capacity <n>   order-table slots, a power of two (default: the engine's)

${NODE_USAGE}`;

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseCli>;
  let capacity: number | null;
  try {
    const split = takeOrderCapacity(process.argv.slice(2));
    capacity = split.capacity;
    parsed = parseCli(split.rest, process.env);
  } catch (error) {
    if (!(error instanceof OptionsError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}`);
    return EXIT_USAGE;
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const options = parsed.options;
  if (capacity !== null)
    options.engineConfig = { ...options.engineConfig, orderCapacity: capacity };
  const starting = startNode(options);
  // Handled before the listening line: a caller may signal as soon as it reads it.
  const stopped = stopOnSignals(() => starting.then((node) => node.close()), 1);
  const node = await starting;
  process.stdout.write(
    `inventory node listening on ${node.url} (order capacity ${capacity ?? 'default'})\n`,
  );
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`cannot run the node: ${error instanceof Error ? error.stack : error}\n`);
    process.exit(1);
  },
);
