/**
 * A thread's index-ordered view of the catalogue for subscriptions and alerts: DC and SKU ids
 * by dense index (the engine reports changed cells by index), DC active flags and each SKU's
 * low-stock threshold. Kept up to date from the same catalogue records the engine applies,
 * one record at a time, so a bulk load of SKUs costs O(1) per SKU here.
 *
 * Invariants: `dcIds[i]` / `skuIds[i]` are the ids the engine has at index i; `version` grows
 * with every applied record, so holders of derived data (resolved DC sets) know to refresh.
 */

import type { CatalogueRecord } from './thread-messages.js';

export class CatalogueView {
  readonly dcIds: string[] = [];
  readonly skuIds: string[] = [];
  readonly dcActive: Uint8Array;
  readonly thresholds: Int32Array;
  version = 0;
  private withThreshold: Int32Array | null = null;

  constructor(
    readonly dcCapacity: number,
    readonly skuCapacity: number,
  ) {
    this.dcActive = new Uint8Array(dcCapacity);
    this.thresholds = new Int32Array(skuCapacity);
  }

  apply(record: CatalogueRecord): void {
    if (record.type === 'dc') {
      const dc = record.dc;
      this.dcIds[dc.index] = dc.id;
      this.dcActive[dc.index] = dc.active ? 1 : 0;
    } else {
      const sku = record.sku;
      this.skuIds[sku.index] = sku.id;
      if (this.thresholds[sku.index] !== sku.lowStockThreshold) this.withThreshold = null;
      this.thresholds[sku.index] = sku.lowStockThreshold;
    }
    this.version++;
  }

  get dcCount(): number {
    return this.dcIds.length;
  }

  get skuCount(): number {
    return this.skuIds.length;
  }

  /** SKU indexes whose threshold is above 0: the only ones that can be low. */
  skusWithThreshold(): Int32Array {
    if (this.withThreshold === null) {
      const list: number[] = [];
      for (let sku = 0; sku < this.skuIds.length; sku++) {
        if (this.thresholds[sku] > 0) list.push(sku);
      }
      this.withThreshold = Int32Array.from(list);
    }
    return this.withThreshold;
  }
}
