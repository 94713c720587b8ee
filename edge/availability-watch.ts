/**
 * One availability subscription: a SKU list watched at a location (the DCs that deliver there
 * in time) or over a DC set, with the level last pushed for each SKU. Changed cells mark SKUs
 * dirty; an evaluation reads the dirty SKUs' levels straight from shared stock and returns
 * only those that differ from what the subscriber last got.
 *
 * Invariants: positions index `skuIds` / `skuIndexes` (each SKU once); `dirtyList[0,
 * dirtyCount)` holds each dirty position once; `lastAvailable` / `lastEta` are what the
 * subscriber was last sent (the snapshot, then pushes), so a skipped push leaves them alone and
 * the next push carries the latest values. Levels are computed the way the `availability` op
 * computes them (units ≥ 1 per DC summed, best ETA rounded to 0.1 min).
 */

import { DcHits, type Engine } from '../engine/index.js';
import type { SkuLevel } from '../protocol/index.js';
import type { CatalogueView } from './catalogue-view.js';

export type WatchEngine = Pick<Engine, 'resolveDcs' | 'levelsInto'>;

/** ETA "none" in `lastEta`; real ETAs are ≥ 0. */
const NO_ETA = -1;

/** Scratch arrays one thread shares between all its evaluations. */
export class WatchScratch {
  readonly skus: Int32Array;
  readonly totals: Float64Array;
  readonly bestEta: Float64Array;

  constructor(skusMax: number) {
    this.skus = new Int32Array(skusMax);
    this.totals = new Float64Array(skusMax);
    this.bestEta = new Float64Array(skusMax);
  }
}

export interface WatchPlace {
  /** A location, or null for a DC set. */
  location: { lat: number; lng: number } | null;
  maxMinutes: number;
  /** DC indexes of a DC set (null for a location). */
  dcs: Int32Array | null;
}

export class AvailabilityWatch {
  readonly kind = 'availability';
  readonly hits = new DcHits();
  private catalogueVersion = -1;
  private readonly lastAvailable: Float64Array;
  private readonly lastEta: Float64Array;
  private readonly dirty: Uint8Array;
  private readonly dirtyList: Int32Array;
  private dirtyCount = 0;
  /** True while in the hub's list of subscriptions to evaluate. */
  queued = false;

  constructor(
    readonly id: number,
    readonly skuIds: readonly string[],
    readonly skuIndexes: Int32Array,
    private readonly place: WatchPlace,
  ) {
    const count = skuIds.length;
    this.lastAvailable = new Float64Array(count);
    this.lastEta = new Float64Array(count);
    this.dirty = new Uint8Array(count);
    this.dirtyList = new Int32Array(count);
  }

  get size(): number {
    return this.skuIds.length;
  }

  /** Re-resolves the DCs after a catalogue change (a DC added, moved, switched off). */
  refreshDcs(engine: WatchEngine, view: CatalogueView): void {
    if (this.catalogueVersion === view.version) return;
    this.catalogueVersion = view.version;
    const hits = this.hits;
    const location = this.place.location;
    if (location !== null) {
      engine.resolveDcs(location, this.place.maxMinutes, hits);
      return;
    }
    const dcs = this.place.dcs!;
    let count = 0;
    for (let at = 0; at < dcs.length && count < hits.capacity; at++) {
      if (view.dcActive[dcs[at]] === 0) continue;
      hits.dcs[count] = dcs[at];
      hits.etaMinutes[count] = 0;
      count++;
    }
    hits.count = count;
  }

  /** True when `dc` is one of the DCs this subscription sums. */
  serves(dc: number): boolean {
    const hits = this.hits;
    for (let at = 0; at < hits.count; at++) if (hits.dcs[at] === dc) return true;
    return false;
  }

  /** Marks one SKU position dirty; true when it was clean. */
  mark(position: number): boolean {
    if (this.dirty[position] === 1) return false;
    this.dirty[position] = 1;
    this.dirtyList[this.dirtyCount++] = position;
    return true;
  }

  markAll(): void {
    for (let position = 0; position < this.skuIds.length; position++) this.mark(position);
  }

  get hasDirty(): boolean {
    return this.dirtyCount > 0;
  }

  /** Every SKU's level now, which becomes what the subscriber was last sent. */
  snapshot(engine: WatchEngine, scratch: WatchScratch): Record<string, SkuLevel> {
    const levels: Record<string, SkuLevel> = {};
    const count = this.skuIds.length;
    scratch.skus.set(this.skuIndexes);
    engine.levelsInto(this.hits, scratch.skus, count, scratch.totals, scratch.bestEta);
    for (let position = 0; position < count; position++) {
      const eta = this.etaOf(scratch.bestEta[position]);
      this.lastAvailable[position] = scratch.totals[position];
      this.lastEta[position] = eta;
      levels[this.skuIds[position]] = {
        available: scratch.totals[position],
        etaMinutes: eta === NO_ETA ? null : eta,
      };
    }
    return levels;
  }

  /**
   * Reads the dirty SKUs and clears them; returns the levels that differ from what was last
   * sent (and records them as sent), or null when none does.
   */
  evaluate(engine: WatchEngine, scratch: WatchScratch): Record<string, SkuLevel> | null {
    const count = this.dirtyCount;
    for (let at = 0; at < count; at++) scratch.skus[at] = this.skuIndexes[this.dirtyList[at]];
    engine.levelsInto(this.hits, scratch.skus, count, scratch.totals, scratch.bestEta);
    let changed: Record<string, SkuLevel> | null = null;
    for (let at = 0; at < count; at++) {
      const position = this.dirtyList[at];
      this.dirty[position] = 0;
      const available = scratch.totals[at];
      const eta = this.etaOf(scratch.bestEta[at]);
      if (available === this.lastAvailable[position] && eta === this.lastEta[position]) continue;
      this.lastAvailable[position] = available;
      this.lastEta[position] = eta;
      changed ??= {};
      changed[this.skuIds[position]] = { available, etaMinutes: eta === NO_ETA ? null : eta };
    }
    this.dirtyCount = 0;
    return changed;
  }

  /** The ETA as the availability op reports it: tenths of a minute, none without a location. */
  private etaOf(bestEta: number): number {
    if (this.place.location === null || bestEta === Number.POSITIVE_INFINITY) return NO_ETA;
    return Math.round(bestEta * 10) / 10;
  }
}
