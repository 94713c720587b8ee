/**
 * Allocation: turning an order's lines into reservations at DCs that serve the customer.
 *
 * `single-dc` takes every line from the nearest DC that can fill them all; `split` fills each
 * line from the nearest DCs first, across every DC in range. Both are all or nothing: when a
 * line cannot be filled, every unit already taken is released before returning.
 *
 * A basket change passes the order's current allocation as credit: units the shopper already
 * holds count as available to them, so their own hold never blocks their new quantities.
 *
 * Everything here works on preallocated typed arrays (the `Allocation` scratch of a thread):
 * no objects, closures or strings per line.
 */

import { assert } from '../assert.js';
import { CONTENDED as CAS_CONTENDED, RESERVED, type StockTable } from '../stock/stock-table.js';

/** The DCs serving a location, nearest first (filled by the geo index). */
export interface DcList {
  count: number;
  readonly dcs: Int32Array;
  readonly etaMinutes: Float64Array;
}

export const ALLOCATED = 0;
export const SHORT = 1;
export const TOO_FRAGMENTED = 2;
/** A counter's compare-exchange lost its bounded retries: contention, not a shortage. */
export const CONTENDED = 3;

export class Allocation {
  // The result: one entry per (DC, SKU) with the units it holds.
  readonly dc: Int32Array;
  readonly sku: Int32Array;
  readonly qty: Int32Array;
  /** Units of the entry taken from the counters by this allocation (the rest came from credit). */
  readonly taken: Int32Array;
  count = 0;
  etaMinutes = 0;
  // Credit: the order's own current allocation during a basket change.
  readonly creditDc: Int32Array;
  readonly creditSku: Int32Array;
  readonly creditQty: Int32Array;
  readonly creditLeft: Int32Array;
  creditCount = 0;
  /** A dry run reads the counters and never writes them (basket checks). */
  dryRun = false;
  /** Set when a reservation gave up on contention during the last allocation. */
  contended = false;

  constructor(readonly entriesMax: number) {
    this.dc = new Int32Array(entriesMax);
    this.sku = new Int32Array(entriesMax);
    this.qty = new Int32Array(entriesMax);
    this.taken = new Int32Array(entriesMax);
    this.creditDc = new Int32Array(entriesMax);
    this.creditSku = new Int32Array(entriesMax);
    this.creditQty = new Int32Array(entriesMax);
    this.creditLeft = new Int32Array(entriesMax);
  }

  reset(): void {
    this.count = 0;
    this.etaMinutes = 0;
    this.creditCount = 0;
    this.contended = false;
  }

  addCredit(dc: number, sku: number, qty: number): void {
    const at = this.creditCount++;
    this.creditDc[at] = dc;
    this.creditSku[at] = sku;
    this.creditQty[at] = qty;
    this.creditLeft[at] = qty;
  }

  creditAt(dc: number, sku: number): number {
    for (let at = 0; at < this.creditCount; at++) {
      if (this.creditDc[at] === dc && this.creditSku[at] === sku) return at;
    }
    return -1;
  }

  private push(dc: number, sku: number, qty: number, taken: number): void {
    assert(this.count < this.entriesMax, 'allocation entries past their capacity');
    assert(qty > 0 && taken >= 0 && taken <= qty, 'an allocation entry of a quantity out of range');
    const at = this.count++;
    this.dc[at] = dc;
    this.sku[at] = sku;
    this.qty[at] = qty;
    this.taken[at] = taken;
  }

  /** Releases every unit this allocation took from the counters and restores the credit. */
  rollback(stock: StockTable): void {
    for (let at = 0; at < this.count && !this.dryRun; at++) {
      if (this.taken[at] > 0) stock.release(this.dc[at], this.sku[at], this.taken[at]);
    }
    this.count = 0;
    this.creditLeft.set(this.creditQty.subarray(0, this.creditCount));
  }

  /** Units free to this order at a cell: the counter plus what it holds there itself. */
  private freeAt(stock: StockTable, dc: number, sku: number): number {
    const available = stock.available(dc, sku);
    const credit = this.creditCount === 0 ? -1 : this.creditAt(dc, sku);
    return Math.max(available, 0) + (credit >= 0 ? this.creditLeft[credit] : 0);
  }

  allocateSingleDc(
    stock: StockTable,
    dcs: DcList,
    lineSku: Int32Array,
    lineQty: Int32Array,
    lineCount: number,
  ): number {
    for (let hit = 0; hit < dcs.count; hit++) {
      const dc = dcs.dcs[hit];
      // Read before taking: skipping a DC that visibly cannot fill the order avoids
      // reserve-then-release churn on counters other buyers are racing for.
      let fits = true;
      for (let line = 0; line < lineCount && fits; line++) {
        fits = this.freeAt(stock, dc, lineSku[line]) >= lineQty[line];
      }
      if (!fits) continue;
      if (this.takeAllAt(stock, dc, lineSku, lineQty, lineCount)) {
        this.etaMinutes = dcs.etaMinutes[hit];
        return ALLOCATED;
      }
    }
    return this.contended ? CONTENDED : SHORT;
  }

  private takeAllAt(
    stock: StockTable,
    dc: number,
    lineSku: Int32Array,
    lineQty: Int32Array,
    lineCount: number,
  ): boolean {
    for (let line = 0; line < lineCount; line++) {
      const sku = lineSku[line];
      const qty = lineQty[line];
      const credit = this.creditCount === 0 ? -1 : this.creditAt(dc, sku);
      const fromCredit = credit >= 0 ? Math.min(qty, this.creditLeft[credit]) : 0;
      const need = qty - fromCredit;
      let took = need === 0 || (this.dryRun && stock.available(dc, sku) >= need);
      if (!took && !this.dryRun && need > 0) {
        const outcome = stock.tryReserve(dc, sku, need);
        took = outcome === RESERVED;
        if (outcome === CAS_CONTENDED) this.contended = true;
      }
      if (!took) {
        this.rollback(stock);
        return false;
      }
      if (credit >= 0) this.creditLeft[credit] -= fromCredit;
      this.push(dc, sku, qty, need);
    }
    return true;
  }

  allocateSplit(
    stock: StockTable,
    dcs: DcList,
    lineSku: Int32Array,
    lineQty: Int32Array,
    lineCount: number,
  ): number {
    let etaMinutes = 0;
    for (let line = 0; line < lineCount; line++) {
      const sku = lineSku[line];
      let remaining = lineQty[line];
      for (let hit = 0; hit < dcs.count && remaining > 0; hit++) {
        const dc = dcs.dcs[hit];
        const credit = this.creditCount === 0 ? -1 : this.creditAt(dc, sku);
        const fromCredit = credit >= 0 ? Math.min(remaining, this.creditLeft[credit]) : 0;
        const want = remaining - fromCredit;
        const taken = want === 0 ? 0 : this.take(stock, dc, sku, want);
        if (taken === CAS_CONTENDED) {
          this.contended = true;
          continue;
        }
        if (fromCredit + taken === 0) continue;
        if (this.count === this.entriesMax) {
          if (taken > 0 && !this.dryRun) stock.release(dc, sku, taken);
          this.rollback(stock);
          return TOO_FRAGMENTED;
        }
        if (credit >= 0) this.creditLeft[credit] -= fromCredit;
        this.push(dc, sku, fromCredit + taken, taken);
        remaining -= fromCredit + taken;
        if (dcs.etaMinutes[hit] > etaMinutes) etaMinutes = dcs.etaMinutes[hit];
      }
      if (remaining > 0) {
        this.rollback(stock);
        return this.contended ? CONTENDED : SHORT;
      }
    }
    this.etaMinutes = etaMinutes;
    return ALLOCATED;
  }

  private take(stock: StockTable, dc: number, sku: number, want: number): number {
    if (!this.dryRun) return stock.reserveUpTo(dc, sku, want);
    const available = stock.available(dc, sku);
    return available <= 0 ? 0 : Math.min(available, want);
  }

  /** For a refusal: units this order could get for one line, at the best DC or in total. */
  reachable(stock: StockTable, dcs: DcList, sku: number, split: boolean): number {
    let best = 0;
    for (let hit = 0; hit < dcs.count; hit++) {
      const free = this.freeAt(stock, dcs.dcs[hit], sku);
      if (split) best += free;
      else if (free > best) best = free;
    }
    return best;
  }
}
