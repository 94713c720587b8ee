/**
 * A seeded demo network: DCs spread over a real metro's neighbourhoods, a grocery catalogue
 * with readable names, and opening stock. Tests, benchmarks, load tests and the demo all load
 * the same network from a seed, so a figure or a failure can be reproduced exactly.
 *
 * Invariants: the output is a pure function of the options (no clock, no `Math.random`); DC
 * and SKU ids are unique; a DC has either `radiusKm` or `area`, never both; every area is a
 * closed, counter-clockwise, simple ring around its DC; every DC carries at least one SKU
 * with units on hand; stock has at most one row per (DC, SKU), with 0 ≤ qty ≤ 200.
 *
 * SKU popularity follows the catalogue order: `skus[0]` is the best seller. A workload that
 * draws order lines with `new Zipf(skus.length, s, prng)` and indexes `skus` therefore asks
 * hardest for the SKUs the stock holds most of, as a real store's assortment would.
 */

import type { DcInput, Location, PolygonCoordinates, SkuInput } from '../types.js';
import { type ProductLine, SKU_CATEGORIES, vocabularyFor } from './grocery-vocabulary.js';
import { METROS, type Metro, type MetroName, slugify } from './metros.js';
import { Prng } from './prng.js';

export const DEMO_DCS_DEFAULT = 60;
export const DEMO_SKUS_DEFAULT = 5_000;
/** The spec's reference scale for DCs. */
export const DEMO_DCS_MAX = 10_000;
/** Six-digit SKU ids ('sku-000123') run out here. */
export const DEMO_SKUS_MAX = 1_000_000;
/**
 * Stock comes back as one object per row, so dcs × skus is bounded to keep a demo network
 * under about a gigabyte; a 10,000 × 100,000 scale run needs a streaming loader instead.
 */
export const DEMO_STOCK_CELLS_MAX = 20_000_000;
export const DEMO_STOCK_QTY_MAX = 200;

/**
 * Independent PRNG streams per metro and part, so e.g. more SKUs never moves a DC, and one
 * seed gives different networks in different metros.
 */
const STREAM_DCS = 1;
const STREAM_SKUS = 2;
const STREAM_STOCK = 3;
const STREAMS_PER_METRO = 16;
const METRO_STREAM_BASE: Readonly<Record<MetroName, number>> = {
  bengaluru: 0,
  'new-york': STREAMS_PER_METRO,
};

const KM_PER_DEGREE_LAT = 110.574;
const KM_PER_DEGREE_LNG_AT_EQUATOR = 111.32;
/** Coordinates are rounded to 1e-6 degrees (about 0.1 m): plenty, and readable in JSON. */
const COORDINATE_SCALE = 1e6;

const DC_JITTER_KM_SIGMA = 0.6;
const DC_JITTER_KM_MAX = 1.5;
const DC_POLYGON_SHARE = 1 / 3;
/** Networks at least this big get one inactive DC, so consumers exercise the flag. */
const DC_INACTIVE_NETWORK_MIN = 20;
const RADIUS_KM_MIN = 2.5;
const RADIUS_KM_MAX = 5;
const AREA_VERTICES_MIN = 12;
const AREA_VERTICES_MAX = 24;
const AREA_RADIUS_KM_MIN = 2;
const AREA_RADIUS_KM_MAX = 6;
const SPEED_KMH_MIN = 15;
const SPEED_KMH_MAX = 30;
const PREP_MINUTES_MIN = 5;
const PREP_MINUTES_MAX = 12;

const LOW_STOCK_THRESHOLD_MIN = 3;
const LOW_STOCK_THRESHOLD_MAX = 10;
const FLASH_SALE_SHARE = 0.02;
const FLASH_SALE_PER_ORDER_MIN = 2;
const FLASH_SALE_PER_ORDER_MAX = 5;
/** Fresh draws tried for an unused name before falling back to a '(Pack of n)' variant. */
const SKU_NAME_ATTEMPTS_MAX = 4;

const STOCK_CARRIED_SHARE_MIN = 0.6;
const STOCK_CARRIED_SHARE_MAX = 0.8;
const STOCK_SOLD_OUT_SHARE = 0.03;
/** Mean units of the best seller and of the long tail; between them a power law in rank. */
const STOCK_QTY_HEAD_MEAN = 140;
const STOCK_QTY_TAIL_MEAN = 4;
const STOCK_QTY_POPULARITY_EXPONENT = 0.6;

export interface DemoNetworkOptions {
  seed: number;
  dcs?: number;
  skus?: number;
  metro?: MetroName;
}

export interface DemoStockRow {
  dc: string;
  sku: string;
  qty: number;
}

export interface DemoNetwork {
  dcs: DcInput[];
  skus: SkuInput[];
  stock: DemoStockRow[];
}

/**
 * The network for `options` (60 DCs, 5,000 SKUs, Bengaluru by default). Options out of range
 * are a caller's bug, so they throw a RangeError rather than return a result code.
 */
export function generateDemoNetwork(options: DemoNetworkOptions): DemoNetwork {
  const dcCount = options.dcs ?? DEMO_DCS_DEFAULT;
  const skuCount = options.skus ?? DEMO_SKUS_DEFAULT;
  const metroName = options.metro ?? 'bengaluru';
  checkCount('dcs', dcCount, DEMO_DCS_MAX);
  checkCount('skus', skuCount, DEMO_SKUS_MAX);
  if (dcCount * skuCount > DEMO_STOCK_CELLS_MAX) {
    throw new RangeError(`dcs × skus must be at most ${DEMO_STOCK_CELLS_MAX}`);
  }
  if (!Object.hasOwn(METROS, metroName)) throw new RangeError(`unknown metro '${metroName}'`);
  const metro = METROS[metroName];
  const streamBase = METRO_STREAM_BASE[metroName];
  const dcs = generateDcs(metro, dcCount, new Prng(options.seed, streamBase + STREAM_DCS));
  const skus = generateSkus(metro, skuCount, new Prng(options.seed, streamBase + STREAM_SKUS));
  const stock = generateStock(dcs, skus, new Prng(options.seed, streamBase + STREAM_STOCK));
  return { dcs, skus, stock };
}

function checkCount(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in [1, ${max}], got ${value}`);
  }
}

/** Spreads DCs over the neighbourhoods in a seeded order, a new one each until all are used. */
function generateDcs(metro: Metro, count: number, prng: Prng): DcInput[] {
  const hoods = metro.neighbourhoods;
  const hoodOrder = prng.shuffle(hoods.map((_, index) => index));
  const dcsPerHood = new Int32Array(hoods.length);
  const polygonCount = Math.round(count * DC_POLYGON_SHARE);
  const dcOrder = prng.shuffle(Array.from({ length: count }, (_, index) => index));
  const hasPolygon = new Uint8Array(count);
  for (let index = 0; index < polygonCount; index++) hasPolygon[dcOrder[index]] = 1;
  const inactiveIndex = count >= DC_INACTIVE_NETWORK_MIN ? prng.int(count) : -1;

  const dcs: DcInput[] = [];
  for (let index = 0; index < count; index++) {
    const hoodIndex = hoodOrder[index % hoods.length];
    const hood = hoods[hoodIndex];
    const ordinal = ++dcsPerHood[hoodIndex];
    const location = jitter(hood, prng);
    const dc: DcInput = {
      id: `${metro.idPrefix}-${slugify(hood.name)}-${ordinal}`,
      name: `${hood.name} Store ${ordinal}`,
      location,
      speedKmh: prng.range(SPEED_KMH_MIN, SPEED_KMH_MAX),
      prepMinutes: prng.range(PREP_MINUTES_MIN, PREP_MINUTES_MAX),
      active: index !== inactiveIndex,
    };
    if (hasPolygon[index] === 1) {
      dc.area = { type: 'Polygon', coordinates: isochroneRing(location, prng) };
    } else {
      dc.radiusKm = Math.round(prng.uniform(RADIUS_KM_MIN, RADIUS_KM_MAX) * 10) / 10;
    }
    dcs.push(dc);
  }
  return dcs;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

function roundCoordinate(degrees: number): number {
  return Math.round(degrees * COORDINATE_SCALE) / COORDINATE_SCALE;
}

/** `origin` moved `eastKm` and `northKm`, on a local flat-earth approximation. */
function offsetKm(origin: Location, eastKm: number, northKm: number): Location {
  const kmPerDegreeLng = KM_PER_DEGREE_LNG_AT_EQUATOR * Math.cos((origin.lat * Math.PI) / 180);
  return {
    lat: roundCoordinate(origin.lat + northKm / KM_PER_DEGREE_LAT),
    lng: roundCoordinate(origin.lng + eastKm / kmPerDegreeLng),
  };
}

function jitter(centre: Location, prng: Prng): Location {
  const eastKm = clamp(prng.gaussian() * DC_JITTER_KM_SIGMA, -DC_JITTER_KM_MAX, DC_JITTER_KM_MAX);
  const northKm = clamp(prng.gaussian() * DC_JITTER_KM_SIGMA, -DC_JITTER_KM_MAX, DC_JITTER_KM_MAX);
  return offsetKm(centre, eastKm, northKm);
}

/**
 * A polygon shaped like a travel-time isochrone: the reach varies smoothly with direction
 * (main roads, a lake in the way) plus per-vertex spikes. Vertex angles strictly increase, so
 * the ring is star-shaped around the DC, hence simple, and runs counter-clockwise as RFC 7946
 * asks of an exterior ring.
 */
function isochroneRing(centre: Location, prng: Prng): PolygonCoordinates {
  const vertexCount = prng.range(AREA_VERTICES_MIN, AREA_VERTICES_MAX);
  const radiusBaseKm = prng.uniform(RADIUS_KM_MIN, RADIUS_KM_MAX);
  const phaseSlow = prng.uniform(0, 2 * Math.PI);
  const phaseFast = prng.uniform(0, 2 * Math.PI);
  const step = (2 * Math.PI) / vertexCount;
  const ring: number[][] = [];
  for (let vertex = 0; vertex < vertexCount; vertex++) {
    // Jitter stays inside ±0.3 of a step, so neighbouring angles can never cross.
    const angle = (vertex + prng.uniform(-0.3, 0.3)) * step;
    const wobble = 1 + 0.25 * Math.sin(angle + phaseSlow) + 0.12 * Math.sin(3 * angle + phaseFast);
    const radiusKm = clamp(
      radiusBaseKm * wobble * prng.uniform(0.8, 1.2),
      AREA_RADIUS_KM_MIN,
      AREA_RADIUS_KM_MAX,
    );
    const point = offsetKm(centre, radiusKm * Math.cos(angle), radiusKm * Math.sin(angle));
    ring.push([point.lng, point.lat]);
  }
  ring.push([ring[0][0], ring[0][1]]);
  return [ring];
}

function generateSkus(metro: Metro, count: number, prng: Prng): SkuInput[] {
  const vocabularies = SKU_CATEGORIES.map((category) => vocabularyFor(category, metro.market));
  const nameUses = new Map<string, number>();
  const skus: SkuInput[] = [];
  for (let index = 0; index < count; index++) {
    const categoryIndex = prng.int(SKU_CATEGORIES.length);
    const sku: SkuInput = {
      id: `sku-${String(index).padStart(6, '0')}`,
      name: skuName(vocabularies[categoryIndex], prng, nameUses),
      category: SKU_CATEGORIES[categoryIndex],
      lowStockThreshold: prng.range(LOW_STOCK_THRESHOLD_MIN, LOW_STOCK_THRESHOLD_MAX),
    };
    if (prng.chance(FLASH_SALE_SHARE)) {
      sku.maxPerOrder = prng.range(FLASH_SALE_PER_ORDER_MIN, FLASH_SALE_PER_ORDER_MAX);
    }
    skus.push(sku);
  }
  return skus;
}

/**
 * Brand + product + size from one product line, unused if a few draws find one; otherwise a
 * pack variant of the last draw. Base names never contain '(Pack of', so variants cannot
 * collide with them, and each base numbers its variants itself.
 */
function skuName(lines: readonly ProductLine[], prng: Prng, nameUses: Map<string, number>): string {
  let name = '';
  for (let attempt = 0; attempt < SKU_NAME_ATTEMPTS_MAX; attempt++) {
    const line = prng.pick(lines);
    const template = prng.pick(line.products);
    name = `${prng.pick(line.brands)} ${template.product} ${prng.pick(template.sizes)}`;
    if (!nameUses.has(name)) {
      nameUses.set(name, 1);
      return name;
    }
  }
  const uses = (nameUses.get(name) ?? 0) + 1;
  nameUses.set(name, uses);
  return `${name} (Pack of ${uses})`;
}

function generateStock(dcs: DcInput[], skus: SkuInput[], prng: Prng): DemoStockRow[] {
  const qtyMean = new Float64Array(skus.length);
  for (let rank = 0; rank < skus.length; rank++) {
    const popularity = (rank + 1) ** -STOCK_QTY_POPULARITY_EXPONENT;
    qtyMean[rank] = STOCK_QTY_TAIL_MEAN + (STOCK_QTY_HEAD_MEAN - STOCK_QTY_TAIL_MEAN) * popularity;
  }
  const stock: DemoStockRow[] = [];
  for (const dc of dcs) {
    const carriedShare = prng.uniform(STOCK_CARRIED_SHARE_MIN, STOCK_CARRIED_SHARE_MAX);
    const firstRow = stock.length;
    let rowsWithUnits = 0;
    for (let rank = 0; rank < skus.length; rank++) {
      if (!prng.chance(carriedShare)) continue;
      const qty = prng.chance(STOCK_SOLD_OUT_SHARE) ? 0 : stockQty(qtyMean[rank], prng);
      if (qty > 0) rowsWithUnits++;
      stock.push({ dc: dc.id, sku: skus[rank].id, qty });
    }
    if (rowsWithUnits === 0) ensureUnits(dc, skus, stock, firstRow, prng);
  }
  return stock;
}

function stockQty(mean: number, prng: Prng): number {
  return clamp(Math.round(mean * prng.uniform(0.5, 1.5)), 0, DEMO_STOCK_QTY_MAX);
}

/**
 * Only a tiny catalogue can leave a DC with nothing on hand; give it one SKU, reusing its row
 * when it carries that SKU sold out, so (DC, SKU) stays unique.
 */
function ensureUnits(
  dc: DcInput,
  skus: SkuInput[],
  stock: DemoStockRow[],
  firstRow: number,
  prng: Prng,
): void {
  const sku = prng.pick(skus).id;
  const qty = prng.range(1, STOCK_QTY_TAIL_MEAN * 2);
  for (let row = firstRow; row < stock.length; row++) {
    if (stock[row].sku === sku) {
      stock[row].qty = qty;
      return;
    }
  }
  stock.push({ dc: dc.id, sku, qty });
}
