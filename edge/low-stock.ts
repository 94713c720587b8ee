/**
 * Low-stock crossings, detected once per node on the main thread: every thread's changed cells
 * come here, each is compared with its SKU's threshold, and a cell whose state flips produces
 * one alert, `low` (available < threshold) or `ok` (available ≥ threshold again). Workers then
 * hand the alerts to their subscribers, so every subscriber sees the same crossings, once.
 *
 * State is one bit per cell (low or not), in a bitmap per DC allocated the first time one of
 * its cells is low. At start every cell of a SKU with a threshold is read once, so the node
 * knows which cells are already low and alerts only on later crossings.
 *
 * Semantics worth knowing (documented in PROTOCOL.md): there is no hysteresis band; instead a
 * cell is compared at most once per tick of the thread that changed it, so a dip and recovery
 * inside one tick produce nothing, and a cell hovering at its threshold alerts at most once
 * per tick. A changed threshold applies from the cell's next change. A threshold of 0 never
 * alerts (available cannot fall below 0).
 */

import { DcHits, type Engine } from '../engine/index.js';
import type { LowStockAlert } from '../protocol/messages.js';
import type { CatalogueView } from './catalogue-view.js';
import { CHANGED_CELLS_PER_BATCH_MAX } from './constants.js';

/** The engine's allocation-free stock read. */
export type StockReader = Pick<Engine, 'levelsInto'>;

/** Reads available of a list of SKUs at one DC, into `totals`, allocating nothing. */
export class CellReader {
  private readonly hits = new DcHits(1);
  private readonly bestEta: Float64Array;

  constructor(
    private readonly engine: StockReader,
    readonly chunkMax: number,
  ) {
    this.bestEta = new Float64Array(chunkMax);
  }

  /** Available (≥ 0) of `skus[0, count)` at `dc`, into `totals[0, count)`. */
  read(dc: number, skus: Int32Array, count: number, totals: Float64Array): void {
    this.hits.count = 1;
    this.hits.dcs[0] = dc;
    this.hits.etaMinutes[0] = 0;
    this.engine.levelsInto(this.hits, skus, count, totals, this.bestEta);
  }
}

export class LowStockTracker {
  private readonly pages: (Uint8Array | undefined)[] = [];
  private readonly reader: CellReader;
  private readonly sorted = new Int32Array(CHANGED_CELLS_PER_BATCH_MAX);
  private readonly skus = new Int32Array(CHANGED_CELLS_PER_BATCH_MAX);
  private readonly totals = new Float64Array(CHANGED_CELLS_PER_BATCH_MAX);
  /** Cells low now (a metric). */
  lowCells = 0;
  /** Alerts produced since start (a metric). */
  alerts = 0;

  constructor(
    engine: StockReader,
    private readonly view: CatalogueView,
    private readonly clock: () => number,
  ) {
    this.reader = new CellReader(engine, CHANGED_CELLS_PER_BATCH_MAX);
  }

  /** Reads every cell of a SKU with a threshold: which are low before anything changes. */
  initialise(): number {
    const withThreshold = this.view.skusWithThreshold();
    const chunk = this.skus;
    let low = 0;
    for (let dc = 0; dc < this.view.dcCount; dc++) {
      for (let start = 0; start < withThreshold.length; start += chunk.length) {
        const count = Math.min(chunk.length, withThreshold.length - start);
        chunk.set(withThreshold.subarray(start, start + count));
        this.reader.read(dc, chunk, count, this.totals);
        for (let at = 0; at < count; at++) {
          const sku = chunk[at];
          if (this.totals[at] < this.view.thresholds[sku]) {
            this.setLow(dc, sku, true);
            low++;
          }
        }
      }
    }
    return low;
  }

  isLow(dc: number, sku: number): boolean {
    const page = this.pages[dc];
    return page !== undefined && (page[sku >>> 3] & (1 << (sku & 7))) !== 0;
  }

  private setLow(dc: number, sku: number, low: boolean): void {
    if (this.isLow(dc, sku) === low) return;
    let page = this.pages[dc];
    if (page === undefined) {
      page = new Uint8Array((this.view.skuCapacity + 7) >>> 3);
      this.pages[dc] = page;
    }
    if (low) page[sku >>> 3] |= 1 << (sku & 7);
    else page[sku >>> 3] &= ~(1 << (sku & 7));
    this.lowCells += low ? 1 : -1;
  }

  /**
   * Compares the changed `cells` with their thresholds and appends an alert to `out` for each
   * cell whose state flipped.
   */
  evaluate(cells: Int32Array, out: LowStockAlert[]): void {
    const chunk = this.sorted.length;
    for (let from = 0; from < cells.length; from += chunk) {
      this.evaluateChunk(cells.subarray(from, Math.min(cells.length, from + chunk)), out);
    }
  }

  private evaluateChunk(cells: Int32Array, out: LowStockAlert[]): void {
    const count = cells.length;
    const sorted = this.sorted.subarray(0, count);
    sorted.set(cells);
    // Sorting groups the cells of one DC: one stock read per DC and run.
    sorted.sort();
    const skuCapacity = this.view.skuCapacity;
    let start = 0;
    while (start < count) {
      const dc = Math.floor(sorted[start] / skuCapacity);
      let end = start;
      let relevant = 0;
      while (end < count && Math.floor(sorted[end] / skuCapacity) === dc) {
        const sku = sorted[end] % skuCapacity;
        // A cell matters if it can be low now, or was low (its threshold may have dropped).
        if (this.view.thresholds[sku] > 0 || this.isLow(dc, sku)) this.skus[relevant++] = sku;
        end++;
      }
      if (relevant > 0) this.compare(dc, relevant, out);
      start = end;
    }
  }

  private compare(dc: number, count: number, out: LowStockAlert[]): void {
    const skus = this.skus;
    const totals = this.totals;
    this.reader.read(dc, skus, count, totals);
    for (let at = 0; at < count; at++) {
      const sku = skus[at];
      const threshold = this.view.thresholds[sku];
      const available = totals[at];
      const low = threshold > 0 && available < threshold;
      if (low === this.isLow(dc, sku)) continue;
      this.setLow(dc, sku, low);
      this.alerts++;
      out.push({
        dc: this.view.dcIds[dc],
        sku: this.view.skuIds[sku],
        state: low ? 'low' : 'ok',
        available,
        threshold,
        at: this.clock(),
      });
    }
  }
}
