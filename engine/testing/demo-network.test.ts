import { booleanPointInPolygon, distance, kinks, point, polygon } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { ID_BYTES_MAX, NAME_LENGTH_MAX } from '../constants.js';
import type { DcInput } from '../types.js';
import { type DemoNetwork, generateDemoNetwork } from './demo-network.js';
import { SKU_CATEGORIES, vocabularyFor } from './grocery-vocabulary.js';
import { METROS, type MetroName } from './metros.js';
import { describeSeed, seedFromEnv } from './prng.js';

const seed = seedFromEnv();
const because = describeSeed(seed);

/** Another valid seed `offset` away from `seed`, stepping down near the top of the range. */
function seedNear(seed: number, offset: number): number {
  return seed <= Number.MAX_SAFE_INTEGER - offset ? seed + offset : seed - offset;
}
const METRO_NAMES = Object.keys(METROS) as MetroName[];

function kmBetween(a: { lat: number; lng: number }, b: { lat: number; lng: number }): number {
  return distance(point([a.lng, a.lat]), point([b.lng, b.lat]), { units: 'kilometers' });
}

/** Twice the signed area of a ring in the (lng, lat) plane: positive when counter-clockwise. */
function signedArea(ring: number[][]): number {
  let sum = 0;
  for (let index = 0; index + 1 < ring.length; index++) {
    sum += ring[index][0] * ring[index + 1][1] - ring[index + 1][0] * ring[index][1];
  }
  return sum;
}

function checkArea(dc: DcInput): void {
  const coordinates = dc.area!.coordinates;
  expect(coordinates.length, `${dc.id} ${because}`).toBe(1);
  const ring = coordinates[0];
  expect(ring.length, `${dc.id} ${because}`).toBeGreaterThanOrEqual(13);
  expect(ring.length, `${dc.id} ${because}`).toBeLessThanOrEqual(25);
  expect(ring[0], `${dc.id} closed ${because}`).toEqual(ring[ring.length - 1]);
  for (const [lng, lat] of ring) {
    expect(Math.abs(lng) <= 180 && Math.abs(lat) <= 90, `${dc.id} ${because}`).toBe(true);
    // [lng, lat] order: each vertex lies 2–6 km from the DC, which a swapped pair would not.
    const km = kmBetween(dc.location, { lat, lng });
    expect(km >= 1.95 && km <= 6.05, `${dc.id} vertex ${km} km ${because}`).toBe(true);
  }
  expect(signedArea(ring), `${dc.id} counter-clockwise ${because}`).toBeGreaterThan(0);
  const shape = polygon(coordinates);
  expect(kinks(shape).features, `${dc.id} self-intersects ${because}`).toEqual([]);
  const inside = booleanPointInPolygon(point([dc.location.lng, dc.location.lat]), shape);
  expect(inside, `${dc.id} outside its own area ${because}`).toBe(true);
}

function checkDcs(network: DemoNetwork, metroName: MetroName): void {
  const metro = METROS[metroName];
  const ids = new Set(network.dcs.map((dc) => dc.id));
  expect(ids.size, because).toBe(network.dcs.length);
  for (const dc of network.dcs) {
    expect(dc.id, because).toMatch(new RegExp(`^${metro.idPrefix}-[a-z0-9]+(-[a-z0-9]+)*-\\d+$`));
    expect(Buffer.byteLength(dc.id), because).toBeLessThanOrEqual(ID_BYTES_MAX);
    expect(dc.name.length > 0 && dc.name.length <= NAME_LENGTH_MAX, because).toBe(true);
    expect(kmBetween(dc.location, metro.centre), `${dc.id} ${because}`).toBeLessThan(40);
    expect((dc.radiusKm === undefined) !== (dc.area === undefined), `${dc.id} ${because}`).toBe(
      true,
    );
    if (dc.area !== undefined) checkArea(dc);
    else expect(dc.radiusKm! >= 2.5 && dc.radiusKm! <= 5, `${dc.id} ${because}`).toBe(true);
    expect(Number.isInteger(dc.speedKmh) && dc.speedKmh! >= 15 && dc.speedKmh! <= 30).toBe(true);
    expect(Number.isInteger(dc.prepMinutes) && dc.prepMinutes! >= 5 && dc.prepMinutes! <= 12).toBe(
      true,
    );
  }
  const polygons = network.dcs.filter((dc) => dc.area !== undefined).length;
  expect(polygons, because).toBe(Math.round(network.dcs.length / 3));
  expect(network.dcs.filter((dc) => dc.active === false).length, because).toBeLessThanOrEqual(1);
}

function checkSkus(network: DemoNetwork, metroName: MetroName): void {
  const ids = new Set(network.skus.map((sku) => sku.id));
  expect(ids.size, because).toBe(network.skus.length);
  const names = new Set(network.skus.map((sku) => sku.name));
  expect(names.size, because).toBe(network.skus.length);
  for (const sku of network.skus) {
    expect(sku.id, because).toMatch(/^sku-\d{6}$/);
    expect(sku.name.length > 0 && sku.name.length <= NAME_LENGTH_MAX, because).toBe(true);
    expect(SKU_CATEGORIES as readonly string[], because).toContain(sku.category);
    const threshold = sku.lowStockThreshold!;
    expect(Number.isInteger(threshold) && threshold >= 3 && threshold <= 10, because).toBe(true);
    if (sku.maxPerOrder !== undefined) {
      expect(sku.maxPerOrder >= 2 && sku.maxPerOrder <= 5, `${sku.id} ${because}`).toBe(true);
    }
    if (metroName === 'bengaluru') {
      expect(sku.name, `${sku.id} ${because}`).not.toMatch(/ (oz|lb|gal|pint|qt)\b/);
    }
  }
}

function checkStock(network: DemoNetwork): void {
  const dcIds = new Set(network.dcs.map((dc) => dc.id));
  const skuIds = new Set(network.skus.map((sku) => sku.id));
  const cells = new Set<string>();
  const unitsByDc = new Map<string, number>();
  let badRows = 0;
  for (const row of network.stock) {
    const cell = `${row.dc}|${row.sku}`;
    const valid = dcIds.has(row.dc) && skuIds.has(row.sku) && !cells.has(cell);
    if (!valid || !Number.isInteger(row.qty) || row.qty < 0 || row.qty > 200) badRows++;
    cells.add(cell);
    unitsByDc.set(row.dc, (unitsByDc.get(row.dc) ?? 0) + row.qty);
  }
  expect(badRows, because).toBe(0);
  for (const dc of network.dcs) {
    expect(unitsByDc.get(dc.id) ?? 0, `${dc.id} has no stock ${because}`).toBeGreaterThan(0);
  }
}

describe('generateDemoNetwork', () => {
  it('builds the default network: 60 Bengaluru DCs, 5,000 SKUs, valid throughout', () => {
    const network = generateDemoNetwork({ seed });
    expect(network.dcs.length).toBe(60);
    expect(network.skus.length).toBe(5_000);
    expect(network.dcs[0].id, because).toMatch(/^blr-/);
    checkDcs(network, 'bengaluru');
    checkSkus(network, 'bengaluru');
    checkStock(network);
  });

  it('builds New York networks of the requested size', () => {
    const network = generateDemoNetwork({ seed, metro: 'new-york', dcs: 45, skus: 800 });
    expect(network.dcs.length).toBe(45);
    expect(network.skus.length).toBe(800);
    checkDcs(network, 'new-york');
    checkSkus(network, 'new-york');
    checkStock(network);
  });

  it('is a pure function of the seed', () => {
    const options = { seed, dcs: 20, skus: 300 };
    expect(generateDemoNetwork(options), because).toEqual(generateDemoNetwork(options));
    const other = generateDemoNetwork({ ...options, seed: seedNear(seed, 1) });
    const base = generateDemoNetwork(options);
    expect(other.dcs, because).not.toEqual(base.dcs);
    expect(other.skus, because).not.toEqual(base.skus);
    expect(other.stock, because).not.toEqual(base.stock);
  });

  it('keeps DCs and SKUs stable when the other part changes size', () => {
    const small = generateDemoNetwork({ seed, dcs: 10, skus: 100 });
    const large = generateDemoNetwork({ seed, dcs: 10, skus: 400 });
    expect(large.dcs, because).toEqual(small.dcs);
    expect(large.skus.slice(0, 100), because).toEqual(small.skus);
    const fewerDcs = generateDemoNetwork({ seed, dcs: 5, skus: 100 });
    expect(fewerDcs.skus, because).toEqual(small.skus);
  });

  it('gives different networks for different metros with one seed', () => {
    const bengaluru = generateDemoNetwork({ seed, dcs: 5, skus: 50 });
    const newYork = generateDemoNetwork({ seed, dcs: 5, skus: 50, metro: 'new-york' });
    expect(
      newYork.stock.map((row) => row.qty),
      because,
    ).not.toEqual(bengaluru.stock.map((row) => row.qty));
  });

  it('spreads DCs over distinct neighbourhoods before reusing one', () => {
    for (const metroName of METRO_NAMES) {
      const hoods = METROS[metroName].neighbourhoods.length;
      const network = generateDemoNetwork({ seed, dcs: hoods, skus: 10, metro: metroName });
      expect(
        network.dcs.every((dc) => dc.id.endsWith('-1')),
        because,
      ).toBe(true);
    }
  });

  it('stocks 60–80% of the catalogue per DC, more units of the best sellers', () => {
    const network = generateDemoNetwork({ seed, dcs: 12, skus: 3_000 });
    const rowsByDc = new Map<string, number>();
    for (const row of network.stock) rowsByDc.set(row.dc, (rowsByDc.get(row.dc) ?? 0) + 1);
    for (const dc of network.dcs) {
      const share = (rowsByDc.get(dc.id) ?? 0) / network.skus.length;
      expect(share > 0.55 && share < 0.85, `${dc.id} carries ${share} ${because}`).toBe(true);
    }
    const rankOf = new Map(network.skus.map((sku, index) => [sku.id, index]));
    const meanQty = (from: number, to: number): number => {
      const rows = network.stock.filter((row) => {
        const rank = rankOf.get(row.sku)!;
        return rank >= from && rank < to;
      });
      return rows.reduce((sum, row) => sum + row.qty, 0) / rows.length;
    };
    expect(meanQty(0, 50), because).toBeGreaterThan(3 * meanQty(2_000, 3_000));
  });

  it('puts a per-order limit on about 2% of SKUs', () => {
    const network = generateDemoNetwork({ seed, dcs: 1, skus: 10_000 });
    const limited = network.skus.filter((sku) => sku.maxPerOrder !== undefined).length;
    // Expected 200, standard deviation 14.
    expect(limited > 100 && limited < 300, `${limited} limited ${because}`).toBe(true);
  });

  it('leaves no DC empty even with a one-SKU catalogue', () => {
    for (let offset = 0; offset < 5; offset++) {
      const network = generateDemoNetwork({ seed: seedNear(seed, offset), dcs: 30, skus: 1 });
      checkStock(network);
    }
  });

  it('refuses options out of range', () => {
    expect(() => generateDemoNetwork({ seed, dcs: 0 })).toThrow(RangeError);
    expect(() => generateDemoNetwork({ seed, dcs: 1.5 })).toThrow(RangeError);
    expect(() => generateDemoNetwork({ seed, skus: 1_000_001 })).toThrow(RangeError);
    expect(() => generateDemoNetwork({ seed, dcs: 10_000, skus: 10_000 })).toThrow(RangeError);
    expect(() => generateDemoNetwork({ seed: 0.5 })).toThrow(RangeError);
    const metro = 'paris' as MetroName;
    expect(() => generateDemoNetwork({ seed, metro })).toThrow(/unknown metro/);
  });
});

describe('metros and vocabulary', () => {
  it('places every neighbourhood near its metro centre, with unique names', () => {
    for (const metroName of METRO_NAMES) {
      const metro = METROS[metroName];
      const names = new Set(metro.neighbourhoods.map((hood) => hood.name));
      expect(names.size).toBe(metro.neighbourhoods.length);
      for (const hood of metro.neighbourhoods) {
        expect(kmBetween(hood, metro.centre), `${metroName} ${hood.name}`).toBeLessThan(25);
      }
    }
  });

  it('has brands and sized products in every category for every market', () => {
    for (const metroName of METRO_NAMES) {
      for (const category of SKU_CATEGORIES) {
        const lines = vocabularyFor(category, METROS[metroName].market);
        expect(lines.length, `${category} ${metroName}`).toBeGreaterThan(0);
        for (const line of lines) {
          expect(line.brands.length, `${category} ${metroName}`).toBeGreaterThan(0);
          expect(line.products.length, `${category} ${metroName}`).toBeGreaterThan(0);
          for (const template of line.products) {
            expect(template.sizes.length, template.product).toBeGreaterThan(0);
          }
        }
      }
    }
  });
});
