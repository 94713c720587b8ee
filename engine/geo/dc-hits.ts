/**
 * The answer of a delivery-area lookup, as a reusable out-parameter: each caller (a worker
 * thread's availability or order path) allocates one at start and passes it to every
 * `DeliveryAreaIndex.resolve`, so a lookup creates no objects.
 *
 * Invariants after a resolve: `0 <= count <= capacity`; entries `[0, count)` are the DCs found,
 * sorted by ETA ascending (ties: lower distance, then lower DC index); entries at `count` and
 * beyond are stale and meaningless.
 */

/** Most DCs one location keeps: the 64 with the lowest ETA. See delivery-area-index.ts. */
export const DC_HITS_MAX = 64;

/** Largest capacity of one DcHits (a bound on an out-parameter, far above DC_HITS_MAX). */
export const DC_HITS_CAPACITY_MAX = 1 << 16;

export class DcHits {
  /** DCs found by the last resolve. */
  count = 0;
  /** Entries the arrays hold; a resolve that finds more keeps the `capacity` nearest. */
  readonly capacity: number;
  /** DC indexes, sorted by ETA ascending. */
  readonly dcs: Int32Array;
  /** ETA in minutes of `dcs[i]`: prep minutes plus travel at the DC's courier speed. */
  readonly etaMinutes: Float64Array;
  /** Great-circle distance in km from `dcs[i]` to the location. */
  readonly distanceKm: Float64Array;

  constructor(capacity: number = DC_HITS_MAX) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > DC_HITS_CAPACITY_MAX) {
      throw new Error(`DcHits capacity must be an integer in [1, ${DC_HITS_CAPACITY_MAX}]`);
    }
    this.capacity = capacity;
    this.dcs = new Int32Array(capacity);
    this.etaMinutes = new Float64Array(capacity);
    this.distanceKm = new Float64Array(capacity);
  }
}
