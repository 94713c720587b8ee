/**
 * Stock counters per DC × SKU, in SharedArrayBuffers that every thread attaches to.
 *
 * Layout: the network is split into shards of `dcsPerShard` DCs (a region each); a shard is one
 * SharedArrayBuffer holding, for each SKU of the catalogue's capacity and each of its DCs, one
 * cell of two int32 counters side by side (so both sit on one cache line). Within a shard the
 * cells of one SKU at all its DCs are contiguous (SKU-major):
 *
 *   cell(dc, sku) = shard[dc / dcsPerShard], at int32 offset (sku * dcsPerShard
 *                   + dc % dcsPerShard) * CELL_INTS
 *   [CELL_AVAILABLE] units free to reserve
 *   [CELL_ON_HAND]   units physically in the DC
 *
 * SKU-major because the hot reads go across DCs: the DCs that deliver to a customer are
 * neighbours, added together and so in one shard, and an availability answer or an order reads
 * each SKU at each of them. With the DCs of a SKU side by side, ten DCs' counters of one SKU
 * are 80 bytes, one or two cache lines, instead of ten lines far apart (measured: the
 * availability loop was bound by those misses).
 *
 * Invariants: reserved = onHand - available is what live orders hold at the cell. A reservation
 * never takes available below zero. Available goes negative only when a count (`adjust`) comes
 * in below what is already reserved; that negative amount is the shortfall, reported by the
 * adjust and by reads, and no reservation succeeds until stock comes back above zero.
 *
 * Every write and every read that decides something goes through Atomics: they are
 * sequentially consistent, which is what the reservation needs (a compare-exchange that
 * succeeds saw the latest value). The one exception is `cellsOf` / `cellBase`, used by
 * availability answers: see there.
 */

import { assert } from '../assert.js';
import { CAS_RETRIES_MAX, QUANTITY_MAX } from '../constants.js';

/** Outcomes of a bounded compare-exchange on a counter. */
export const RESERVED = 1;
export const SHORT = 0;
export const CONTENDED = -1;

export const CELL_AVAILABLE = 0;
export const CELL_ON_HAND = 1;
export const CELL_INTS = 2;
export const CELL_BYTES = CELL_INTS * Int32Array.BYTES_PER_ELEMENT;

export interface StockGeometry {
  dcCapacity: number;
  skuCapacity: number;
  dcsPerShard: number;
  /** Compare-exchange retries on one counter before CONTENDED (CAS_RETRIES_MAX by default). */
  casRetriesMax?: number;
}

export function shardCount(geometry: StockGeometry): number {
  return Math.ceil(geometry.dcCapacity / geometry.dcsPerShard);
}

/**
 * Allocates every shard at start, each `dcsPerShard` DCs wide (the last one too, so every shard
 * has the same stride); pages are committed by the OS only when first written.
 */
export function allocateStockShards(geometry: StockGeometry): SharedArrayBuffer[] {
  const shards: SharedArrayBuffer[] = [];
  const count = shardCount(geometry);
  for (let shard = 0; shard < count; shard++) {
    shards.push(new SharedArrayBuffer(geometry.dcsPerShard * geometry.skuCapacity * CELL_BYTES));
  }
  return shards;
}

export class StockTable {
  readonly skuCapacity: number;
  /** Int32 distance between a DC's cells of consecutive SKUs (the same in every shard). */
  readonly skuStride: number;
  private readonly casRetries: number;
  /** Shard of each DC, and the int32 offset of the DC's cell of SKU 0 within it. */
  private readonly dcShard: Int32Array[];
  private readonly dcBase: Int32Array;

  constructor(geometry: StockGeometry, buffers: readonly SharedArrayBuffer[]) {
    if (buffers.length !== shardCount(geometry)) throw new Error('stock: shard count mismatch');
    this.skuCapacity = geometry.skuCapacity;
    this.skuStride = geometry.dcsPerShard * CELL_INTS;
    this.casRetries = geometry.casRetriesMax ?? CAS_RETRIES_MAX;
    const views = buffers.map((buffer) => new Int32Array(buffer));
    this.dcShard = new Array(geometry.dcCapacity);
    this.dcBase = new Int32Array(geometry.dcCapacity);
    for (let dc = 0; dc < geometry.dcCapacity; dc++) {
      this.dcShard[dc] = views[Math.floor(dc / geometry.dcsPerShard)];
      this.dcBase[dc] = (dc % geometry.dcsPerShard) * CELL_INTS;
    }
  }

  /**
   * The raw int32 view of a DC's shard and the offset of its cell of SKU 0 (its cell of SKU s
   * is at `cellBase(dc) + s * skuStride`), for read-only loops
   * that report availability. Such loops read cells with plain loads, not Atomics.load, and
   * that is deliberate: on Node 20 Atomics.load is a builtin call (~8 ns) while a plain load
   * is ~1 ns, and an availability page reads 20–200 SKUs × up to 10 DCs. The ECMAScript
   * memory model makes aligned Int32Array element reads tear-free, so a plain read returns a
   * value some thread stored; the answer is a snapshot that may be stale by the time it is
   * sent anyway. Nothing is decided from these reads: reservations use Atomics.
   */
  cellsOf(dc: number): Int32Array {
    return this.dcShard[dc];
  }

  cellBase(dc: number): number {
    return this.dcBase[dc];
  }

  available(dc: number, sku: number): number {
    return Atomics.load(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE);
  }

  onHand(dc: number, sku: number): number {
    return Atomics.load(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_ON_HAND);
  }

  /**
   * Takes exactly `qty` units or nothing: RESERVED, SHORT (not enough free), or CONTENDED
   * (other threads won CAS_RETRIES_MAX races in a row: not a shortage, the caller may retry).
   */
  tryReserve(dc: number, sku: number, qty: number): number {
    const cells = this.dcShard[dc];
    const index = this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE;
    for (let retry = 0; retry < this.casRetries; retry++) {
      const available = Atomics.load(cells, index);
      if (available < qty) return SHORT;
      if (Atomics.compareExchange(cells, index, available, available - qty) === available) {
        return RESERVED;
      }
    }
    return CONTENDED;
  }

  /** Takes as many units as are free, up to `qty`: how many it took, or CONTENDED. */
  reserveUpTo(dc: number, sku: number, qty: number): number {
    const cells = this.dcShard[dc];
    const index = this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE;
    for (let retry = 0; retry < this.casRetries; retry++) {
      const available = Atomics.load(cells, index);
      if (available <= 0) return 0;
      const taken = Math.min(available, qty);
      if (Atomics.compareExchange(cells, index, available, available - taken) === available) {
        return taken;
      }
    }
    return CONTENDED;
  }

  /** Gives reserved units back. The caller has logged the release before calling. */
  release(dc: number, sku: number, qty: number): void {
    // Only the amount is checked here: available against on-hand is not, because a count
    // (adjust) moves the two in separate steps and a check between them would see a state
    // that is transient, not broken. Conservation is checked on a quiescent engine.
    assert(qty > 0 && qty <= QUANTITY_MAX, 'a release of a quantity out of range');
    Atomics.add(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE, qty);
  }

  /** New units arrive: on-hand first, so `reserved` never reads negative to a concurrent reader. */
  receive(dc: number, sku: number, qty: number): void {
    const cells = this.dcShard[dc];
    const base = this.dcBase[dc] + sku * this.skuStride;
    Atomics.add(cells, base + CELL_ON_HAND, qty);
    Atomics.add(cells, base + CELL_AVAILABLE, qty);
  }

  /**
   * Adds received units to on-hand unless that would pass QUANTITY_MAX: RESERVED (added), SHORT
   * (it would overflow) or CONTENDED. Available follows with `applyCountDelta` once the receipt
   * is logged.
   */
  tryAddOnHand(dc: number, sku: number, qty: number): number {
    const cells = this.dcShard[dc];
    const index = this.dcBase[dc] + sku * this.skuStride + CELL_ON_HAND;
    for (let retry = 0; retry < this.casRetries; retry++) {
      const onHand = Atomics.load(cells, index);
      if (onHand > QUANTITY_MAX - qty) return SHORT;
      if (Atomics.compareExchange(cells, index, onHand, onHand + qty) === onHand) return RESERVED;
    }
    return CONTENDED;
  }

  /**
   * Sets on-hand to a counted quantity and returns the delta applied (counted - previous). The
   * caller logs the delta and then calls `applyCountDelta`, so that units a count adds become
   * reservable only after the log holds them.
   */
  setOnHand(dc: number, sku: number, onHand: number): number {
    const cells = this.dcShard[dc];
    const index = this.dcBase[dc] + sku * this.skuStride + CELL_ON_HAND;
    // Only counts and picks write on-hand; the exchange makes concurrent counts each see the
    // value they replaced, so the deltas they log add up to the final value.
    const previous = Atomics.exchange(cells, index, onHand);
    return onHand - previous;
  }

  applyCountDelta(dc: number, sku: number, delta: number): void {
    Atomics.add(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE, delta);
  }

  /** Replay of a logged count: both counters move by the logged delta. */
  addBoth(dc: number, sku: number, delta: number): void {
    const cells = this.dcShard[dc];
    const base = this.dcBase[dc] + sku * this.skuStride;
    Atomics.add(cells, base + CELL_ON_HAND, delta);
    Atomics.add(cells, base + CELL_AVAILABLE, delta);
  }

  /** Reserved units leave the building with a picked order. */
  pick(dc: number, sku: number, qty: number): void {
    assert(qty > 0 && qty <= QUANTITY_MAX, 'a pick of a quantity out of range');
    Atomics.sub(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_ON_HAND, qty);
  }

  /** Reserve without a check: replay of an allocation the log says happened. */
  forceReserve(dc: number, sku: number, qty: number): void {
    assert(qty > 0 && qty <= QUANTITY_MAX, 'a replayed reservation of a quantity out of range');
    Atomics.sub(this.dcShard[dc], this.dcBase[dc] + sku * this.skuStride + CELL_AVAILABLE, qty);
  }

  /** Sets both counters, for loading a snapshot into a fresh table. */
  load(dc: number, sku: number, available: number, onHand: number): void {
    const cells = this.dcShard[dc];
    const base = this.dcBase[dc] + sku * this.skuStride;
    Atomics.store(cells, base + CELL_AVAILABLE, available);
    Atomics.store(cells, base + CELL_ON_HAND, onHand);
  }
}
