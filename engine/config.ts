/**
 * Engine configuration: capacities (everything is allocated at start from these) and policy
 * defaults. `resolveConfig` fills defaults and checks the limits against each other.
 */

import {
  BUCKET_SLOTS,
  ORDER_CAPACITY_DEFAULT,
  ORDER_CAPACITY_MAX,
  ORDER_OVERFLOW_BLOCKS_MIN,
  ORDER_SLOTS_PER_OVERFLOW_BLOCK,
  CAS_RETRIES_MAX,
  HOLD_TTL_SECONDS_DEFAULT,
  HOLD_TTL_SECONDS_MAX,
  ID_BYTES_MAX,
  LOCK_WAIT_MS_DEFAULT,
  MAX_MINUTES_DEFAULT,
} from './constants.js';
import { overflowBlocks } from './reservation/order-slot.js';

export interface EngineConfig {
  /** Most DCs the network may ever hold (counters are allocated for all of them). */
  dcCapacity: number;
  /** Most SKUs the catalogue may ever hold. */
  skuCapacity: number;
  /** DCs per stock shard: each shard is one SharedArrayBuffer (a region of the network). */
  dcsPerShard: number;
  /**
   * Order-table slots (live orders plus the idempotency record of finished ones), a power of
   * two. Two-choice buckets refuse a new order once its two buckets hold only live orders,
   * which first happens past about 85 % of this in live orders.
   */
  orderCapacity: number;
  /** Lines one order may have. */
  linesPerOrderMax: number;
  /** (DC, SKU) allocation entries one order may hold; a split line uses one per DC. */
  allocationsPerOrderMax: number;
  holdTtlSecondsDefault: number;
  maxMinutesDefault: number;
  /** Entries of the per-thread location → DCs cache. */
  geoCacheSize: number;
  /** Longest wait for an order's lock before LOCK_TIMEOUT, in milliseconds. */
  lockWaitMsMax: number;
  /** Compare-exchange retries on one counter before a reservation answers CONTENDED. */
  casRetriesMax: number;
  /** Run O(n) invariant checks after operations (tests turn this on). */
  verify: boolean;
}

/**
 * Blocks of the order table's overflow pool (64 bytes, 7 allocation entries each, for the
 * entries an order cannot hold inline in its slot): one per ORDER_SLOTS_PER_OVERFLOW_BLOCK
 * slots, at least ORDER_OVERFLOW_BLOCKS_MIN. It follows the capacity rather than being a
 * setting of its own, so a data directory's configuration fixes it.
 */
export function orderOverflowBlocks(config: Pick<EngineConfig, 'orderCapacity'>): number {
  return Math.max(config.orderCapacity / ORDER_SLOTS_PER_OVERFLOW_BLOCK, ORDER_OVERFLOW_BLOCKS_MIN);
}

export const DEFAULT_CONFIG: EngineConfig = {
  dcCapacity: 256,
  skuCapacity: 16_384,
  dcsPerShard: 64,
  orderCapacity: ORDER_CAPACITY_DEFAULT,
  linesPerOrderMax: 32,
  allocationsPerOrderMax: 32,
  holdTtlSecondsDefault: HOLD_TTL_SECONDS_DEFAULT,
  maxMinutesDefault: MAX_MINUTES_DEFAULT,
  geoCacheSize: 4096,
  lockWaitMsMax: LOCK_WAIT_MS_DEFAULT,
  casRetriesMax: CAS_RETRIES_MAX,
  verify: false,
};

/** Bytes of one stock shard may not exceed this (V8 typed-array lengths, and page-in cost). */
const SHARD_BYTES_MAX = 2 ** 31;

export class ConfigError extends Error {
  readonly code = 'BAD_CONFIG';
}

function requireInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`config ${name} must be an integer in [${min}, ${max}], got ${value}`);
  }
}

export function resolveConfig(partial: Partial<EngineConfig> = {}): EngineConfig {
  const config: EngineConfig = { ...DEFAULT_CONFIG, ...partial };
  requireInt('dcCapacity', config.dcCapacity, 1, 1 << 20);
  requireInt('skuCapacity', config.skuCapacity, 1, 1 << 24);
  requireInt('dcsPerShard', config.dcsPerShard, 1, config.dcCapacity);
  // A cell index (dc * skuCapacity + sku) is stored in int32 in the order table.
  if (config.dcCapacity * config.skuCapacity > 0x7fff_ffff) {
    throw new ConfigError('dcCapacity × skuCapacity must stay below 2^31 cells');
  }
  // Two int32 counters per cell.
  if (config.dcsPerShard * config.skuCapacity * 8 > SHARD_BYTES_MAX) {
    throw new ConfigError('dcsPerShard × skuCapacity × 8 bytes exceeds the 2 GiB shard limit');
  }
  requireInt('orderCapacity', config.orderCapacity, BUCKET_SLOTS, ORDER_CAPACITY_MAX);
  if ((config.orderCapacity & (config.orderCapacity - 1)) !== 0) {
    throw new ConfigError('orderCapacity must be a power of two');
  }
  requireInt('linesPerOrderMax', config.linesPerOrderMax, 1, 1_000);
  requireInt('lockWaitMsMax', config.lockWaitMsMax, 1, 60_000);
  requireInt('casRetriesMax', config.casRetriesMax, 1, 1_000_000);
  requireInt(
    'allocationsPerOrderMax',
    config.allocationsPerOrderMax,
    config.linesPerOrderMax,
    4_000,
  );
  // One order's entries past its inline room always fit an empty pool (an id of 64 bytes
  // leaves no room inline).
  if (orderOverflowBlocks(config) < overflowBlocks(ID_BYTES_MAX, config.allocationsPerOrderMax)) {
    throw new ConfigError('allocationsPerOrderMax needs more overflow blocks than the table has');
  }
  requireInt('holdTtlSecondsDefault', config.holdTtlSecondsDefault, 1, HOLD_TTL_SECONDS_MAX);
  requireInt('maxMinutesDefault', config.maxMinutesDefault, 1, 24 * 60);
  requireInt('geoCacheSize', config.geoCacheSize, 1, 1 << 22);
  if ((config.geoCacheSize & (config.geoCacheSize - 1)) !== 0) {
    throw new ConfigError('geoCacheSize must be a power of two');
  }
  return config;
}
