/**
 * Every limit of the engine, named, with the reason for its value. Configurable limits have
 * their defaults and hard ceilings here; `checkConfig` (config.ts) checks them against each
 * other at load, so a bad combination fails at start rather than at 3 a.m.
 */

// Limits the wire and the engine share are defined once, in protocol/limits.ts.
export {
  AREA_VERTICES_MAX,
  BROWSE_LIMIT_MAX,
  HOLD_TTL_SECONDS_DEFAULT,
  ID_BYTES_MAX,
  MAX_MINUTES_CEILING,
  MAX_MINUTES_DEFAULT,
  NAME_LENGTH_MAX,
  PREP_MINUTES_DEFAULT,
  PREP_MINUTES_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MAX,
  RADIUS_KM_MIN,
  REASON_LENGTH_MAX as ATTRIBUTION_LENGTH_MAX,
  SKUS_PER_REQUEST_MAX as AVAILABILITY_SKUS_MAX,
  SPEED_KMH_DEFAULT,
  SPEED_KMH_MAX,
  SPEED_KMH_MIN,
  TTL_SECONDS_MAX as HOLD_TTL_SECONDS_MAX,
} from '../protocol/index.js';

/** Browse page size. */
export const BROWSE_LIMIT_DEFAULT = 50;

/** Vertices of the polygon that approximates a radius area (turf.circle steps). */
export const CIRCLE_STEPS = 64;

/**
 * Compare-exchange retries on one counter before a reservation gives up. A retry happens only
 * when another thread changed the same counter between our load and our exchange; with the
 * handful of threads a node runs, a few retries suffice, so hitting this bound means a
 * pathological hot spot, and the order is refused CONTENDED (retryable) rather than spinning.
 */
export const CAS_RETRIES_MAX = 1_000;

/**
 * Spins on a busy order-table bucket lock before sleeping on it: a holder keeps it for a few
 * microseconds, so a short spin usually wins without a system call.
 */
export const LOCK_SPINS_BEFORE_WAIT = 64;

/**
 * How long an operation waits for an order-table bucket lock before it gives up with
 * LOCK_TIMEOUT (the engine config's default). Holders keep a lock for microseconds; a second
 * means a holder was descheduled for very long, or died holding it.
 */
export const LOCK_WAIT_MS_DEFAULT = 1_000;

/** Order-table buckets hold this many slots each (a lock covers one bucket). */
export const BUCKET_SLOTS = 16;

/**
 * Order-table slots by default. Sized for the reference load (10 M orders a day, peaks of
 * 100,000 orders/s for minutes, orders picked within the hour): a minute at 150,000 committed
 * orders/s is 9 M live orders, and two-choice buckets of 16 hold live orders to about 85 % of
 * the slots before a bucket pair is full, so 2^24 (16.8 M; ~14 M live) with room to spare.
 * 2^23 (~7 M live) would not last the minute. Costs 2.1 GiB of address space, committed by
 * the OS as orders land (README, "Memory").
 */
export const ORDER_CAPACITY_DEFAULT = 1 << 24;

/** Largest order table: 2^26 slots, 8 GiB of records. */
export const ORDER_CAPACITY_MAX = 1 << 26;

/**
 * Default overflow pool: one 64-byte block (7 allocation entries) per 2 slots. Inline, a slot
 * holds 5 entries next to an id of up to 24 bytes and 3 next to a UUID, so most orders (1-5
 * lines) need no block; this leaves room for every other order in a full table to carry 7
 * entries more than fit inline.
 */
export const ORDER_SLOTS_PER_OVERFLOW_BLOCK = 2;

/** The default pool is never smaller than this (small tables in tests and demos). */
export const ORDER_OVERFLOW_BLOCKS_MIN = 1024;
