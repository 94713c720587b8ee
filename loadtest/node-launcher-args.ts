/**
 * The one flag the load-test node launcher adds to the node's own command line:
 * `--order-capacity <slots>` (a power of two within the engine's bound), split out of argv so
 * the rest goes to the node's parser unchanged.
 */

import { OptionsError } from '../edge/index.js';

const ORDER_CAPACITY_FLAG = '--order-capacity';
/** The engine's own bounds (engine/config.ts): at least one bucket, at most 2^26 slots. */
const ORDER_CAPACITY_MIN = 16;
const ORDER_CAPACITY_MAX = 1 << 26;

function parseCapacity(text: string | undefined): number {
  const value = Number(text);
  const valid =
    text !== undefined &&
    /^\d+$/.test(text) &&
    value >= ORDER_CAPACITY_MIN &&
    value <= ORDER_CAPACITY_MAX &&
    (value & (value - 1)) === 0;
  if (!valid) {
    throw new OptionsError(
      `${ORDER_CAPACITY_FLAG} must be a power of two in ` +
        `[${ORDER_CAPACITY_MIN}, ${ORDER_CAPACITY_MAX}]`,
    );
  }
  return value;
}

/** Splits `--order-capacity n` (or `--order-capacity=n`) out of argv. */
export function takeOrderCapacity(argv: readonly string[]): {
  capacity: number | null;
  rest: string[];
} {
  const rest: string[] = [];
  let capacity: number | null = null;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index];
    if (arg === ORDER_CAPACITY_FLAG) capacity = parseCapacity(argv[++index]);
    else if (arg.startsWith(`${ORDER_CAPACITY_FLAG}=`)) {
      capacity = parseCapacity(arg.slice(ORDER_CAPACITY_FLAG.length + 1));
    } else rest.push(arg);
  }
  return { capacity, rest };
}
