/**
 * Availability and browse: what the DCs serving a location can deliver within a window, read
 * from the stock counters with plain loads (an advisory snapshot: nothing is decided from
 * them, see StockTable.cellsOf). One reader per thread; its scratch (DC hits, SKU indexes,
 * per-DC cell offsets) holds one query at a time, so the typed path creates no object per
 * SKU or per DC.
 */

import { AvailabilityAnswers, ETA_NONE, etaTenths } from './answers.js';
import {
  AVAILABILITY_SKUS_MAX,
  BROWSE_LIMIT_DEFAULT,
  BROWSE_LIMIT_MAX,
  MAX_MINUTES_CEILING,
} from './constants.js';
import type { EngineContext } from './context.js';
import { fail } from './failure.js';
import { DC_HITS_MAX, DcHits } from './geo/index.js';
import { CELL_AVAILABLE } from './stock/stock-table.js';
import type {
  AvailabilityResult,
  BrowseInput,
  BrowseResult,
  Failure,
  Location,
  SkuAvailability,
} from './types.js';
import { isIntInRange, isLatitude, isLocation, isLongitude, isNumberInRange } from './validate.js';

/** SKUs one browse call looks at before it returns a page (possibly short) and a cursor. */
const BROWSE_SCAN_MAX = 20_000;
const CURSOR_PATTERN = /^[0-9]{1,9}$/;

export class AvailabilityReader {
  private readonly hits = new DcHits();
  private readonly skuScratch = new Int32Array(AVAILABILITY_SKUS_MAX);
  /** Per DC of the current query: its shard and the offset of its cells. */
  // Filled, not `new Array(n)`: a packed array, no hole check on each read.
  private readonly hitCells: Int32Array[] = Array.from({ length: DC_HITS_MAX }, () => NO_CELLS);
  private readonly hitBases = new Int32Array(DC_HITS_MAX);
  /** Scratch for the object API: one query, read back into an object at once. */
  private readonly scratch = new AvailabilityAnswers(1, AVAILABILITY_SKUS_MAX, DC_HITS_MAX);

  constructor(private readonly context: EngineContext) {}

  /**
   * With `breakdown` false, each SKU's `dcs` is left empty: a search page needs the total and
   * the best ETA, and the per-DC list is most of the cost of building and encoding an answer.
   * `dcsInRange` counts the active DCs that deliver to the location within the window, with
   * stock or not: 0 tells "no DC delivers here" from "sold out" (DCs, none with units), which
   * both answer `available` 0 and `etaMinutes` null. An unknown SKU answers `unknown: true`
   * and `available` 0 (-1 in the typed answers).
   */
  availability(
    location: Location,
    skus: readonly string[],
    maxMinutes?: number,
    breakdown = true,
  ): AvailabilityResult {
    this.context.lastTicket = 0;
    if (!isLocation(location)) return fail('BAD_LOCATION');
    if (!Array.isArray(skus)) return fail('BAD_REQUEST', 'skus must be an array');
    const answers = this.scratch;
    answers.reset(breakdown);
    const refusal = this.availabilityInto(
      location.lat,
      location.lng,
      skus,
      0,
      skus.length,
      maxMinutes,
      answers,
    );
    if (refusal !== null) return refusal;
    return {
      ok: true,
      skus: this.availabilityObject(answers, 0, skus),
      dcsInRange: answers.dcCount[0],
    };
  }

  /**
   * Answers one availability query into `answers` (the typed core the wire encodes from):
   * the DCs in range once, then per SKU of `skus[skuStart .. skuStart + skuCount)` the total,
   * the best ETA and (with the breakdown) the units at each DC. A refusal appends nothing.
   */
  availabilityInto(
    lat: number,
    lng: number,
    skus: readonly unknown[] | Int32Array,
    skuStart: number,
    skuCount: number,
    maxMinutes: number | undefined,
    answers: AvailabilityAnswers,
  ): Failure | null {
    if (!isLatitude(lat) || !isLongitude(lng)) return fail('BAD_LOCATION');
    if (skuCount > AVAILABILITY_SKUS_MAX)
      return fail('TOO_MANY_SKUS', `at most ${AVAILABILITY_SKUS_MAX} SKUs`);
    const window = maxMinutes ?? this.context.config.maxMinutesDefault;
    if (!isNumberInRange(window, 1, MAX_MINUTES_CEILING))
      return fail('BAD_FIELD', 'maxMinutes: 1–1440');
    if (!answers.hasRoom(skuCount)) return fail('TOO_MANY_SKUS', 'the batch holds too many SKUs');
    const indexes = this.skuScratch;
    const catalogue = this.context.catalogue;
    if (skus instanceof Int32Array) {
      // Indexes a caller resolved (edge/sku-table.ts); one past the catalogue is unknown.
      const known = catalogue.skus.length;
      for (let at = 0; at < skuCount; at++) {
        const index = skus[skuStart + at];
        indexes[at] = index >= 0 && index < known ? index : -1;
      }
    } else {
      const skuIndexes = catalogue.skuIndexes;
      for (let at = 0; at < skuCount; at++) {
        const id = skus[skuStart + at];
        if (typeof id !== 'string') return fail('BAD_ID', 'skus must be strings');
        indexes[at] = skuIndexes.get(id) ?? -1;
      }
    }
    this.context.geo.resolve(lat, lng, window, this.hits);
    this.answerQuery(skuCount, answers);
    return null;
  }

  /**
   * Appends the answer for the SKUs in `skuScratch` at the DCs in `hits`: the DCs once, then
   * per SKU the total, the best ETA and (with the breakdown) the units at each DC.
   */
  private answerQuery(skuCount: number, answers: AvailabilityAnswers): void {
    const stock = this.context.stock;
    const hits = this.hits;
    const query = answers.count++;
    const dcCount = hits.count;
    const dcStart = answers.dcTotal;
    answers.dcStart[query] = dcStart;
    answers.dcCount[query] = dcCount;
    // What each DC contributes to every SKU's answer, worked out once per query, not per SKU.
    const cells = this.hitCells;
    const bases = this.hitBases;
    for (let hit = 0; hit < dcCount; hit++) {
      const dc = hits.dcs[hit];
      cells[hit] = stock.cellsOf(dc);
      bases[hit] = stock.cellBase(dc) + CELL_AVAILABLE;
      answers.dcs[dcStart + hit] = dc;
      answers.dcEtaTenths[dcStart + hit] = etaTenths(hits.etaMinutes[hit]);
    }
    answers.dcTotal = dcStart + dcCount;
    const skuBase = answers.skuTotal;
    answers.skuStart[query] = skuBase;
    answers.skuCount[query] = skuCount;
    answers.perDcStart[query] = answers.perDcTotal;
    const breakdown = answers.breakdown;
    let perDc = answers.perDcTotal;
    const rows = answers.perDc;
    const totals = answers.available;
    const etas = answers.etaTenths;
    const dcEtas = answers.dcEtaTenths;
    const indexes = this.skuScratch;
    const stride = stock.skuStride;
    // The DCs of one shard share one array: the common case reads it without a lookup per DC.
    const shared = dcCount > 0 && sameCells(cells, dcCount) ? cells[0] : null;
    for (let at = 0; at < skuCount; at++) {
      const sku = indexes[at];
      let total = 0;
      let first = -1;
      if (sku < 0) {
        total = -1;
        if (breakdown) rows.fill(0, perDc, perDc + dcCount);
      } else {
        const offset = sku * stride;
        // Plain reads: an advisory snapshot, see StockTable.cellsOf. The DCs are in ETA
        // order, so the first with units gives the SKU's ETA.
        for (let hit = 0; hit < dcCount; hit++) {
          const available =
            shared === null ? cells[hit][bases[hit] + offset] : shared[bases[hit] + offset];
          const free = Math.max(available, 0);
          if (breakdown) rows[perDc + hit] = free;
          total += free;
          if (first < 0 && free > 0) first = hit;
        }
      }
      if (breakdown) perDc += dcCount;
      totals[skuBase + at] = total;
      etas[skuBase + at] = first < 0 ? ETA_NONE : dcEtas[dcStart + first];
    }
    answers.skuTotal = skuBase + skuCount;
    answers.perDcTotal = perDc;
  }

  /** Query `query` of `answers` as the v1 answer object, keyed by the ids asked for. */
  private availabilityObject(
    answers: AvailabilityAnswers,
    query: number,
    skus: readonly string[],
  ): Record<string, SkuAvailability> {
    const { catalogue } = this.context;
    // Keyed by SKU ids that differ from query to query: a null-prototype object is a
    // dictionary from the start, where adding a key is a hash insert. An ordinary literal
    // would walk V8's hidden-class transitions, a new path for every combination of keys
    // (measured: 28 µs per 20-SKU answer under load against 3 µs for repeated keys).
    const result: Record<string, SkuAvailability> = Object.create(null);
    const dcStart = answers.dcStart[query];
    const dcCount = answers.dcCount[query];
    const skuStart = answers.skuStart[query];
    let row = answers.perDcStart[query];
    for (let at = 0; at < answers.skuCount[query]; at++) {
      const total = answers.available[skuStart + at];
      const eta = answers.etaTenths[skuStart + at];
      const entry: SkuAvailability = {
        available: Math.max(total, 0),
        etaMinutes: eta === ETA_NONE ? null : eta / 10,
        dcs: [],
      };
      if (total < 0) entry.unknown = true;
      if (answers.breakdown) {
        for (let hit = 0; hit < dcCount; hit++) {
          const units = answers.perDc[row + hit];
          if (units === 0) continue;
          entry.dcs.push({
            dc: catalogue.dcs[answers.dcs[dcStart + hit]].id,
            available: units,
            etaMinutes: answers.dcEtaTenths[dcStart + hit] / 10,
          });
        }
        row += dcCount;
      }
      result[skus[at]] = entry;
    }
    return result;
  }

  /**
   * Levels of SKUs (by index) over the DCs of `hits`: for each, the units free across them
   * (totals) and the best ETA (Infinity when none). For the edge's subscriptions and alerts,
   * which keep their SKU indexes and DC lists between evaluations.
   */
  levelsInto(
    hits: DcHits,
    skus: Int32Array,
    count: number,
    totals: Float64Array,
    bestEta: Float64Array,
  ): void {
    const stock = this.context.stock;
    totals.fill(0, 0, count);
    bestEta.fill(Number.POSITIVE_INFINITY, 0, count);
    // DC-outer: one shard look-up per DC. Hits are sorted by ETA, so the first DC with units
    // gives a SKU's best ETA. Plain reads: see StockTable.cellsOf.
    for (let hit = 0; hit < hits.count; hit++) {
      const dc = hits.dcs[hit];
      const cells = stock.cellsOf(dc);
      const base = stock.cellBase(dc) + CELL_AVAILABLE;
      const stride = stock.skuStride;
      const eta = hits.etaMinutes[hit];
      for (let at = 0; at < count; at++) {
        const available = cells[base + skus[at] * stride];
        if (available <= 0) continue;
        totals[at] += available;
        if (bestEta[at] > eta) bestEta[at] = eta;
      }
    }
  }

  /** The DCs serving a location (nearest first), into `out`. */
  resolveDcs(location: Location, maxMinutes: number, out: DcHits): number {
    return this.context.geo.resolve(location.lat, location.lng, maxMinutes, out);
  }

  browse(input: BrowseInput): BrowseResult {
    this.context.lastTicket = 0;
    if (typeof input !== 'object' || input === null) return fail('BAD_REQUEST');
    if (!isLocation(input.location)) return fail('BAD_LOCATION');
    const limit = input.limit ?? BROWSE_LIMIT_DEFAULT;
    if (!isIntInRange(limit, 1, BROWSE_LIMIT_MAX))
      return fail('BAD_FIELD', `limit: 1–${BROWSE_LIMIT_MAX}`);
    const window = input.maxMinutes ?? this.context.config.maxMinutesDefault;
    if (!isNumberInRange(window, 1, MAX_MINUTES_CEILING))
      return fail('BAD_FIELD', 'maxMinutes: 1–1440');
    if (input.category !== undefined && typeof input.category !== 'string') {
      return fail('BAD_FIELD', 'category must be a string');
    }
    if (
      input.cursor !== undefined &&
      (typeof input.cursor !== 'string' || !CURSOR_PATTERN.test(input.cursor))
    ) {
      return fail('BAD_FIELD', 'cursor is not one this node gave out');
    }
    const { catalogue, stock, geo } = this.context;
    const hits = this.hits;
    geo.resolve(input.location.lat, input.location.lng, window, hits);
    const list = input.category === undefined ? null : catalogue.category(input.category);
    const end = list === null ? catalogue.skus.length : list.length;
    const items: Extract<BrowseResult, { ok: true }>['items'] = [];
    let position = input.cursor === undefined ? 0 : Number(input.cursor);
    const scanEnd = Math.min(end, position + BROWSE_SCAN_MAX);
    for (; position < scanEnd && items.length < limit && hits.count > 0; position++) {
      const sku = list === null ? position : list[position];
      let total = 0;
      let eta = -1;
      for (let hit = 0; hit < hits.count; hit++) {
        const dc = hits.dcs[hit];
        // Plain read: an advisory snapshot, see StockTable.cellsOf.
        const available =
          stock.cellsOf(dc)[stock.cellBase(dc) + sku * stock.skuStride + CELL_AVAILABLE];
        if (available <= 0) continue;
        total += available;
        if (eta < 0) eta = hits.etaMinutes[hit];
      }
      if (total === 0) continue;
      const record = catalogue.skus[sku];
      items.push({
        sku: record.id,
        name: record.name,
        category: record.category,
        available: total,
        etaMinutes: Math.round(eta * 10) / 10,
      });
    }
    const more = hits.count > 0 && position < end;
    return { ok: true, items, nextCursor: more ? String(position) : null };
  }
}

const NO_CELLS = new Int32Array(0);

/** Whether the first `count` arrays of `cells` are one array (the DCs share a shard). */
function sameCells(cells: readonly Int32Array[], count: number): boolean {
  const first = cells[0];
  for (let at = 1; at < count; at++) if (cells[at] !== first) return false;
  return true;
}
