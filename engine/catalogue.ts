/**
 * The network catalogue as one thread sees it: DCs and SKUs with their stable external ids
 * mapped to dense indexes (the stock table's coordinates), their attributes, and a per-category
 * list of SKUs for browsing.
 *
 * Every thread holds its own copy, built from the same records in the same order, so indexes
 * agree everywhere. Index assignment has a single owner (see EngineApi); `prepareDc` and
 * `prepareSku` validate input and resolve defaults without changing anything, `applyDc` and
 * `applySku` install a record.
 */

import type { ErrorCode } from '../protocol/index.js';
import {
  NAME_LENGTH_MAX,
  PREP_MINUTES_DEFAULT,
  PREP_MINUTES_MAX,
  QUANTITY_MAX,
  RADIUS_KM_MAX,
  RADIUS_KM_MIN,
  SPEED_KMH_DEFAULT,
  SPEED_KMH_MAX,
  SPEED_KMH_MIN,
} from './constants.js';
import { checkDcRecord, validateArea } from './geo/index.js';
import type { DcInput, DcRecord, SkuInput, SkuRecord } from './types.js';
import { isId, isIntInRange, isLocation, isNumberInRange, isShortText } from './validate.js';

export type Prepared<T> =
  | { ok: true; record: T; created: boolean }
  | { ok: false; code: ErrorCode; message: string };

function refuse<T>(code: ErrorCode, message: string): Prepared<T> {
  return { ok: false, code, message };
}

export class Catalogue {
  readonly dcs: DcRecord[] = [];
  readonly skus: SkuRecord[] = [];
  readonly dcIndexes = new Map<string, number>();
  readonly skuIndexes = new Map<string, number>();
  /** Per-SKU limits read on the order path; 0 means no limit. */
  readonly skuMaxPerOrder: Int32Array;
  readonly skuLowStockThreshold: Int32Array;
  private readonly categories = new Map<string, number[]>();

  constructor(
    readonly dcCapacity: number,
    readonly skuCapacity: number,
  ) {
    this.skuMaxPerOrder = new Int32Array(skuCapacity);
    this.skuLowStockThreshold = new Int32Array(skuCapacity);
  }

  prepareDc(input: DcInput): Prepared<DcRecord> {
    if (typeof input !== 'object' || input === null)
      return refuse('BAD_REQUEST', 'DC must be an object');
    if (!isId(input.id)) return refuse('BAD_ID', 'DC id must be 1–64 bytes, printable');
    if (!isShortText(input.name, NAME_LENGTH_MAX))
      return refuse('BAD_FIELD', 'name: 1–200 characters');
    if (!isLocation(input.location))
      return refuse('BAD_LOCATION', 'location: { lat, lng } in range');
    const hasRadius = input.radiusKm !== undefined && input.radiusKm !== null;
    const hasArea = input.area !== undefined && input.area !== null;
    if (!hasRadius && !hasArea) return refuse('BAD_AREA', 'give radiusKm or area');
    if (hasRadius && !isNumberInRange(input.radiusKm, RADIUS_KM_MIN, RADIUS_KM_MAX)) {
      return refuse('BAD_AREA', `radiusKm must be in [${RADIUS_KM_MIN}, ${RADIUS_KM_MAX}]`);
    }
    if (hasArea && !validateArea(input.area))
      return refuse('BAD_AREA', 'area must be a valid GeoJSON Polygon');
    const speedKmh = input.speedKmh ?? SPEED_KMH_DEFAULT;
    if (!isNumberInRange(speedKmh, SPEED_KMH_MIN, SPEED_KMH_MAX))
      return refuse('BAD_FIELD', `speedKmh: ${SPEED_KMH_MIN}–${SPEED_KMH_MAX}`);
    const prepMinutes = input.prepMinutes ?? PREP_MINUTES_DEFAULT;
    if (!isNumberInRange(prepMinutes, 0, PREP_MINUTES_MAX))
      return refuse('BAD_FIELD', `prepMinutes: 0–${PREP_MINUTES_MAX}`);
    const active = input.active ?? true;
    if (typeof active !== 'boolean') return refuse('BAD_FIELD', 'active must be a boolean');
    const existing = this.dcIndexes.get(input.id);
    if (existing === undefined && this.dcs.length >= this.dcCapacity) {
      return refuse(
        'CAPACITY_EXHAUSTED',
        `the network holds its capacity of ${this.dcCapacity} DCs ` +
          '(dcCapacity: a node restarted with a larger --dc-capacity holds more)',
      );
    }
    const record: DcRecord = {
      index: existing ?? this.dcs.length,
      id: input.id,
      name: input.name,
      location: { lat: input.location.lat, lng: input.location.lng },
      radiusKm: hasArea ? null : (input.radiusKm as number),
      area: hasArea ? { type: 'Polygon', coordinates: input.area!.coordinates } : null,
      speedKmh,
      prepMinutes,
      active,
    };
    // The geo index's own checks (an area crossing the antimeridian, say), so that nothing it
    // would refuse ever reaches the log, where replay would meet it on every start.
    const geoRefusal = checkDcRecord(record);
    if (geoRefusal !== null) return refuse(geoRefusal, 'the delivery area cannot be indexed');
    return { ok: true, record, created: existing === undefined };
  }

  prepareSku(input: SkuInput): Prepared<SkuRecord> {
    if (typeof input !== 'object' || input === null)
      return refuse('BAD_REQUEST', 'SKU must be an object');
    if (!isId(input.id)) return refuse('BAD_ID', 'SKU id must be 1–64 bytes, printable');
    if (!isShortText(input.name, NAME_LENGTH_MAX))
      return refuse('BAD_FIELD', 'name: 1–200 characters');
    const category = input.category ?? null;
    if (category !== null && !isShortText(category, NAME_LENGTH_MAX)) {
      return refuse('BAD_FIELD', 'category: 1–200 characters');
    }
    const lowStockThreshold = input.lowStockThreshold ?? 0;
    if (!isIntInRange(lowStockThreshold, 0, QUANTITY_MAX)) {
      return refuse('BAD_FIELD', 'lowStockThreshold: an integer ≥ 0');
    }
    const maxPerOrder = input.maxPerOrder ?? 0;
    if (!isIntInRange(maxPerOrder, 0, QUANTITY_MAX))
      return refuse('BAD_FIELD', 'maxPerOrder: an integer ≥ 0');
    const existing = this.skuIndexes.get(input.id);
    if (existing === undefined && this.skus.length >= this.skuCapacity) {
      return refuse(
        'CAPACITY_EXHAUSTED',
        `the catalogue holds its capacity of ${this.skuCapacity} SKUs ` +
          '(skuCapacity: a node restarted with a larger --sku-capacity holds more)',
      );
    }
    const record: SkuRecord = {
      index: existing ?? this.skus.length,
      id: input.id,
      name: input.name,
      category,
      lowStockThreshold,
      maxPerOrder,
    };
    return { ok: true, record, created: existing === undefined };
  }

  /** Installs a DC record; its index is either the next one or an existing DC's. */
  applyDc(record: DcRecord): void {
    const known = this.dcIndexes.get(record.id);
    if (known === undefined) {
      if (record.index !== this.dcs.length)
        throw new Error(`catalogue: DC index ${record.index} out of order`);
      this.dcIndexes.set(record.id, record.index);
    } else if (known !== record.index) {
      throw new Error(`catalogue: DC ${record.id} changed index`);
    }
    this.dcs[record.index] = record;
  }

  applySku(record: SkuRecord): void {
    const known = this.skuIndexes.get(record.id);
    if (known === undefined) {
      if (record.index !== this.skus.length)
        throw new Error(`catalogue: SKU index ${record.index} out of order`);
      this.skuIndexes.set(record.id, record.index);
    } else if (known !== record.index) {
      throw new Error(`catalogue: SKU ${record.id} changed index`);
    } else {
      const previous = this.skus[record.index];
      if (previous.category !== record.category) this.removeFromCategory(previous);
    }
    const previous = known === undefined ? undefined : this.skus[record.index];
    this.skus[record.index] = record;
    this.skuMaxPerOrder[record.index] = record.maxPerOrder;
    this.skuLowStockThreshold[record.index] = record.lowStockThreshold;
    if (record.category !== null && previous?.category !== record.category) {
      this.addToCategory(record);
    }
  }

  /** SKU indexes of a category, ascending; empty for an unknown category. */
  category(name: string): readonly number[] {
    return this.categories.get(name) ?? [];
  }

  private addToCategory(record: SkuRecord): void {
    const name = record.category as string;
    let list = this.categories.get(name);
    if (list === undefined) {
      list = [];
      this.categories.set(name, list);
    }
    // Indexes arrive mostly ascending; keep the list sorted for cursor-based browsing.
    let at = list.length;
    while (at > 0 && list[at - 1] > record.index) at--;
    list.splice(at, 0, record.index);
  }

  private removeFromCategory(record: SkuRecord): void {
    if (record.category === null) return;
    const list = this.categories.get(record.category);
    if (list === undefined) return;
    const at = list.indexOf(record.index);
    if (at >= 0) list.splice(at, 1);
  }
}
