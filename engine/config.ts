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
import { CELL_BYTES } from './stock/stock-table.js';

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

/**
 * Default capacities: a metro's network with room to grow (1,024 DCs × 65,536 SKUs). The
 * counters reserve 8 bytes per DC × SKU, 512 MiB of address space here, committed by the OS as
 * cells are first written (README, "Memory"). A node raises them with --dc-capacity and
 * --sku-capacity; the reference network (10,000 × 100,000) needs 7.45 GiB.
 */
export const DC_CAPACITY_DEFAULT = 1_024;
export const SKU_CAPACITY_DEFAULT = 65_536;
/** Most DCs (the geo index's ceiling) and SKUs a configuration may name. */
export const DC_CAPACITY_MAX = 1 << 20;
export const SKU_CAPACITY_MAX = 1 << 24;
/**
 * A cell index (dc × skuCapacity + sku) is an int32 in the order table and the change feed,
 * so dcCapacity × skuCapacity stays at or below this.
 */
export const CELLS_MAX = 0x7fff_ffff;
/** DCs per stock shard unless configured: fewer when the shard would pass SHARD_BYTES_MAX. */
const DCS_PER_SHARD_DEFAULT = 64;

export const DEFAULT_CONFIG: EngineConfig = {
  dcCapacity: DC_CAPACITY_DEFAULT,
  skuCapacity: SKU_CAPACITY_DEFAULT,
  dcsPerShard: DCS_PER_SHARD_DEFAULT,
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

/**
 * DCs per stock shard for these capacities when the configuration does not say: 64, or fewer
 * when the network has fewer DCs or 64 DCs of this many SKUs would pass SHARD_BYTES_MAX. The
 * shard width is a layout choice, not a property of the data (snapshots store stock per DC),
 * so it may differ from one start to the next.
 */
export function dcsPerShardFor(dcCapacity: number, skuCapacity: number): number {
  const fit = Math.floor(SHARD_BYTES_MAX / (Math.max(skuCapacity, 1) * CELL_BYTES));
  return Math.max(1, Math.min(DCS_PER_SHARD_DEFAULT, dcCapacity, fit));
}

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
  requireInt('dcCapacity', config.dcCapacity, 1, DC_CAPACITY_MAX);
  requireInt('skuCapacity', config.skuCapacity, 1, SKU_CAPACITY_MAX);
  if (partial.dcsPerShard === undefined) {
    config.dcsPerShard = dcsPerShardFor(config.dcCapacity, config.skuCapacity);
  }
  requireInt('dcsPerShard', config.dcsPerShard, 1, config.dcCapacity);
  // A cell index (dc * skuCapacity + sku) is stored in int32 in the order table.
  if (config.dcCapacity * config.skuCapacity > CELLS_MAX) {
    throw new ConfigError(
      `dcCapacity × skuCapacity must stay below 2^31 cells, got ` +
        `${config.dcCapacity} × ${config.skuCapacity}`,
    );
  }
  // Two int32 counters per cell.
  if (config.dcsPerShard * config.skuCapacity * CELL_BYTES > SHARD_BYTES_MAX) {
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

/**
 * The configuration of a data directory written with `stored`, with `given` (flags, options)
 * on top: what is not given stays as recorded, so a restart needs no flags. When a capacity
 * changes and the shard width is not given, the width is worked out again for the new
 * capacities (the recorded one may not fit them). Whether the data fits is the log's to check
 * (wal/recovery.ts: capacities may grow, never shrink).
 */
export function resolveConfigOver(
  stored: EngineConfig,
  given: Partial<EngineConfig>,
): EngineConfig {
  const resized =
    (given.dcCapacity !== undefined && given.dcCapacity !== stored.dcCapacity) ||
    (given.skuCapacity !== undefined && given.skuCapacity !== stored.skuCapacity);
  const { dcsPerShard, ...capacities } = stored;
  const base: Partial<EngineConfig> = resized ? capacities : { ...capacities, dcsPerShard };
  return resolveConfig({ ...base, ...given });
}
