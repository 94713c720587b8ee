/**
 * Every limit of the engine, named, with the reason for its value. Configurable limits have
 * their defaults and hard ceilings here; `checkConfig` (config.ts) checks them against each
 * other at load, so a bad combination fails at start rather than at 3 a.m.
 */

/** Largest quantity of one line or one stock operation: counters are int32. */
export const QUANTITY_MAX = 0x7fff_ffff;

/** Ids (DC, SKU, order) are 1..ID_BYTES_MAX bytes of UTF-8 without control characters. */
export const ID_BYTES_MAX = 64;

/** Names and categories, in UTF-16 code units. */
export const NAME_LENGTH_MAX = 200;

/** Attribution strings (actor, reason) in the log. */
export const ATTRIBUTION_LENGTH_MAX = 200;

/** One availability request: a search results page is 20–200 SKUs. */
export const AVAILABILITY_SKUS_MAX = 500;

/** Browse page size. */
export const BROWSE_LIMIT_DEFAULT = 50;
export const BROWSE_LIMIT_MAX = 500;

/** Delivery window. */
export const MAX_MINUTES_DEFAULT = 60;
export const MAX_MINUTES_CEILING = 24 * 60;

/** Hold TTL bounds, in seconds. */
export const HOLD_TTL_SECONDS_DEFAULT = 10 * 60;
export const HOLD_TTL_SECONDS_MAX = 24 * 60 * 60;

/** Travel model defaults. */
export const SPEED_KMH_DEFAULT = 20;
export const PREP_MINUTES_DEFAULT = 8;
export const RADIUS_KM_MAX = 200;
/** Vertices of the polygon that approximates a radius area (turf.circle steps). */
export const CIRCLE_STEPS = 64;
/** Vertices of a client-supplied delivery area polygon, over all rings. */
export const AREA_VERTICES_MAX = 10_000;

/**
 * Compare-exchange retries on one counter before a reservation gives up. A retry happens only
 * when another thread changed the same counter between our load and our exchange; with the
 * handful of threads a node runs, a few retries suffice, so hitting this bound means a bug or
 * a pathological hot spot, and the line is refused as out of stock rather than spinning.
 */
export const CAS_RETRIES_MAX = 1_000;

/** Spins on an order-table bucket lock before asserting: a holder keeps it for microseconds. */
export const LOCK_SPINS_MAX = 50_000_000;

/** Order-table buckets hold this many slots each (a lock covers one bucket). */
export const BUCKET_SLOTS = 16;
