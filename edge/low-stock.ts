/**
 * Low-stock crossings, detected once per node on the main thread: every thread's changed cells
 * come here, each is compared with its SKU's threshold, and a cell whose state flips produces
 * one alert, `low` (available < threshold) or `ok` (available ≥ threshold again). Workers then
 * hand the alerts to their subscribers, so every subscriber sees the same crossings, once.
 *
 * Which cells can be low: a DC stocks a few thousand of the catalogue's SKUs, and a cell it
 * never stocked sits at 0 untouched; alerting on every such zero would bury the alerts that
 * matter. So a cell counts once its DC deals in the SKU: it is **carried** (the DC holds or
 * owes units of it: on hand > 0 or reserved > 0), or its stock changed while the node ran (a
 * receipt, an order, a count, a count of 0 included). Changed cells are the only ones the
 * tracker compares after start, so only the start read and the snapshots test `carried`. A
 * cell that sells out stays low until stock is back at the threshold. Nothing per cell is
 * persisted for this: after a restart, a cell with nothing on hand and nothing reserved looks
 * like one never stocked, and is not low until its stock changes again.
 *
 * State is one bit per cell (low or not), in a bitmap per DC allocated the first time one of
 * its cells is low. At start every cell of a SKU with a threshold is read once, so the node
 * knows which cells are already low and alerts only on later crossings. Each worker keeps a
 * mirror of the same bits, seeded by the same read and then kept by the alerts, so a new
 * subscription's snapshot lists what the alert stream says is low.
 *
 * Semantics worth knowing (documented in PROTOCOL.md): there is no hysteresis band; instead a
 * cell is compared at most once per tick of the thread that changed it, so a dip and recovery
 * inside one tick produce nothing, and a cell hovering at its threshold alerts at most once
 * per tick. A changed threshold applies from the cell's next change. A threshold of 0 never
 * alerts (available cannot fall below 0).
 */

import { DcHits, type Engine, StockTable } from '../engine/index.js';
import type { LowStockAlert } from '../protocol/index.js';
import type { CatalogueView } from './catalogue-view.js';
import { CHANGED_CELLS_PER_BATCH_MAX } from './constants.js';

/** What the readers need of the engine: its allocation-free stock read and its memory. */
export type StockReader = Pick<Engine, 'levelsInto' | 'shared' | 'config'>;

/** Reads the stock of cells at one DC, allocating nothing. */
export class CellReader {
  private readonly hits = new DcHits(1);
  private readonly bestEta: Float64Array;
  private readonly stock: StockTable;

  constructor(
    private readonly engine: StockReader,
    readonly chunkMax: number,
  ) {
    this.bestEta = new Float64Array(chunkMax);
    this.stock = new StockTable(engine.config, engine.shared().stock);
  }

  /** Available (≥ 0) of `skus[0, count)` at `dc`, into `totals[0, count)`. */
  read(dc: number, skus: Int32Array, count: number, totals: Float64Array): void {
    this.hits.count = 1;
    this.hits.dcs[0] = dc;
    this.hits.etaMinutes[0] = 0;
    this.engine.levelsInto(this.hits, skus, count, totals, this.bestEta);
  }

  /** Whether the DC holds or owes units of the SKU: on hand > 0 or reserved > 0. */
  carried(dc: number, sku: number): boolean {
    const onHand = this.stock.onHand(dc, sku);
    // reserved = onHand - available; with nothing on hand, reserved > 0 iff available < 0.
    return onHand > 0 || this.stock.available(dc, sku) < onHand;
  }
}

/** One bit per cell: low or not. A DC's page is allocated the first time one of its cells is. */
export class LowCells {
  private readonly pages: (Uint8Array | undefined)[] = [];
  /** Cells set now. */
  count = 0;

  constructor(private readonly skuCapacity: number) {}

  has(dc: number, sku: number): boolean {
    const page = this.pages[dc];
    return page !== undefined && (page[sku >>> 3] & (1 << (sku & 7))) !== 0;
  }

  set(dc: number, sku: number, low: boolean): void {
    if (this.has(dc, sku) === low) return;
    let page = this.pages[dc];
    if (page === undefined) {
      page = new Uint8Array((this.skuCapacity + 7) >>> 3);
      this.pages[dc] = page;
    }
    if (low) page[sku >>> 3] |= 1 << (sku & 7);
    else page[sku >>> 3] &= ~(1 << (sku & 7));
    this.count += low ? 1 : -1;
  }
}

/**
 * Sets in `cells` every cell that is low now by the rule above, read from stock: carried and
 * below its threshold. Returns how many. `skus` and `totals` are scratch of one length.
 */
export function markLowCells(
  reader: CellReader,
  view: CatalogueView,
  cells: LowCells,
  skus: Int32Array,
  totals: Float64Array,
): number {
  const withThreshold = view.skusWithThreshold();
  let low = 0;
  for (let dc = 0; dc < view.dcCount; dc++) {
    for (let start = 0; start < withThreshold.length; start += skus.length) {
      const count = Math.min(skus.length, withThreshold.length - start);
      skus.set(withThreshold.subarray(start, start + count));
      reader.read(dc, skus, count, totals);
      for (let at = 0; at < count; at++) {
        const sku = skus[at];
        if (totals[at] < view.thresholds[sku] && reader.carried(dc, sku)) {
          cells.set(dc, sku, true);
          low++;
        }
      }
    }
  }
  return low;
}

export class LowStockTracker {
  private readonly low: LowCells;
  private readonly reader: CellReader;
  private readonly sorted = new Int32Array(CHANGED_CELLS_PER_BATCH_MAX);
  private readonly skus = new Int32Array(CHANGED_CELLS_PER_BATCH_MAX);
  private readonly totals = new Float64Array(CHANGED_CELLS_PER_BATCH_MAX);
  /** Alerts produced since start (a metric). */
  alerts = 0;

  constructor(
    engine: StockReader,
    private readonly view: CatalogueView,
    private readonly clock: () => number,
  ) {
    this.reader = new CellReader(engine, CHANGED_CELLS_PER_BATCH_MAX);
    this.low = new LowCells(view.skuCapacity);
  }

  /** Cells low now (a metric). */
  get lowCells(): number {
    return this.low.count;
  }

  /** Reads every cell of a SKU with a threshold: which are low before anything changes. */
  initialise(): number {
    return markLowCells(this.reader, this.view, this.low, this.skus, this.totals);
  }

  isLow(dc: number, sku: number): boolean {
    return this.low.has(dc, sku);
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
      // A changed cell is one its DC deals in (see the top of this file): no carried test.
      const low = threshold > 0 && available < threshold;
      if (low === this.isLow(dc, sku)) continue;
      this.low.set(dc, sku, low);
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

/**
 * A worker's copy of the tracker's low bits, for subscription snapshots: seeded by the same
 * read of stock when the worker starts (the tracker's own start read comes just before), then
 * kept by the alerts the tracker sends. A snapshot lists a cell below its threshold that the
 * alerts say is low (a sold-out cell with nothing left on it included), or that is carried
 * now (its alert may still be on its way).
 */
export class LowStockMirror {
  private readonly low: LowCells;

  constructor(
    private readonly engine: Pick<Engine, 'getDc' | 'getSku'>,
    private readonly reader: CellReader,
    view: CatalogueView,
  ) {
    this.low = new LowCells(view.skuCapacity);
    const skus = new Int32Array(reader.chunkMax);
    markLowCells(reader, view, this.low, skus, new Float64Array(reader.chunkMax));
  }

  apply(alerts: readonly LowStockAlert[]): void {
    for (const alert of alerts) {
      const dc = this.engine.getDc(alert.dc);
      const sku = this.engine.getSku(alert.sku);
      if (dc !== undefined && sku !== undefined) {
        this.low.set(dc.index, sku.index, alert.state === 'low');
      }
    }
  }

  /** Whether a snapshot lists the cell, given its available units now and its threshold. */
  lists(dc: number, sku: number, available: number, threshold: number): boolean {
    if (!(available < threshold)) return false;
    return this.low.has(dc, sku) || this.reader.carried(dc, sku);
  }
}
