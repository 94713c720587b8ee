import { circle } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { CIRCLE_STEPS, RADIUS_KM_MAX } from '../constants.js';
import type { DcRecord, PolygonCoordinates } from '../types.js';
import { DC_HITS_MAX, DcHits } from './dc-hits.js';
import { checkDcRecord, DeliveryAreaIndex } from './delivery-area-index.js';
import { haversineKm } from './haversine.js';

const CENTRE = { lat: 12.97, lng: 77.59 };
const KM_PER_DEGREE_LAT = 111.195;

/** A location `northKm` north and `eastKm` east of `from` (flat offsets, fine in a metro). */
function offset(northKm: number, eastKm: number, from = CENTRE) {
  const kmPerDegreeLng = KM_PER_DEGREE_LAT * Math.cos((from.lat * Math.PI) / 180);
  return { lat: from.lat + northKm / KM_PER_DEGREE_LAT, lng: from.lng + eastKm / kmPerDegreeLng };
}

function dcRecord(overrides: Partial<DcRecord> = {}): DcRecord {
  const index = overrides.index ?? 0;
  return {
    index,
    id: `dc-${index}`,
    name: `DC ${index}`,
    location: { ...CENTRE },
    radiusKm: 5,
    area: null,
    speedKmh: 20,
    prepMinutes: 8,
    active: true,
    ...overrides,
  };
}

/** A square of side 2 × halfKm around `centre`, optionally with a square hole of halfHoleKm. */
function squareArea(centre: { lat: number; lng: number }, halfKm: number, halfHoleKm = 0) {
  const square = (half: number) => {
    const sw = offset(-half, -half, centre);
    const ne = offset(half, half, centre);
    return [
      [sw.lng, sw.lat],
      [ne.lng, sw.lat],
      [ne.lng, ne.lat],
      [sw.lng, ne.lat],
      [sw.lng, sw.lat],
    ];
  };
  const coordinates: PolygonCoordinates = [square(halfKm)];
  if (halfHoleKm > 0) coordinates.push(square(halfHoleKm));
  return { type: 'Polygon' as const, coordinates };
}

function newIndex(dcCapacity = 16, cacheSize = 64) {
  return new DeliveryAreaIndex({ dcCapacity, cacheSize });
}

/** Resolves through the cache and around it, checks both agree, returns the DC indexes. */
function served(index: DeliveryAreaIndex, at: { lat: number; lng: number }, maxMinutes = 60) {
  const cached = new DcHits();
  const uncached = new DcHits();
  index.resolve(at.lat, at.lng, maxMinutes, cached);
  index.resolveUncached(at.lat, at.lng, maxMinutes, uncached);
  const dcs = Array.from(cached.dcs.subarray(0, cached.count));
  expect(Array.from(uncached.dcs.subarray(0, uncached.count))).toEqual(dcs);
  return dcs;
}

describe('DeliveryAreaIndex containment', () => {
  it('serves inside a radius area and not outside it', () => {
    const index = newIndex();
    expect(index.upsert(dcRecord({ radiusKm: 5 }))).toBeNull();
    expect(served(index, CENTRE)).toEqual([0]);
    expect(served(index, offset(4.9, 0))).toEqual([0]);
    expect(served(index, offset(0, -4.9))).toEqual([0]);
    expect(served(index, offset(3.5, 3.4))).toEqual([0]);
    expect(served(index, offset(5.1, 0))).toEqual([]);
    expect(served(index, offset(3.6, 3.6))).toEqual([]);
    expect(served(index, offset(50, 50))).toEqual([]);
  });

  it('counts a point on the circle polygon boundary as inside', () => {
    const index = newIndex();
    index.upsert(dcRecord({ radiusKm: 5 }));
    const ring = circle([CENTRE.lng, CENTRE.lat], 5, { steps: CIRCLE_STEPS, units: 'kilometers' })
      .geometry.coordinates[0];
    const [lng, lat] = ring[7];
    expect(served(index, { lat, lng })).toEqual([0]);
  });

  it('serves inside a polygon area, not outside it, and not in its hole', () => {
    const index = newIndex();
    const area = squareArea(CENTRE, 4, 1);
    expect(index.upsert(dcRecord({ radiusKm: null, area }))).toBeNull();
    expect(served(index, offset(2, 2))).toEqual([0]);
    expect(served(index, offset(-3.9, 3.9))).toEqual([0]);
    expect(served(index, offset(4.2, 0))).toEqual([]);
    // The DC itself sits in the hole of its own area: the centre is not served.
    expect(served(index, CENTRE)).toEqual([]);
    expect(served(index, offset(0.5, -0.5))).toEqual([]);
    expect(served(index, offset(1.5, 0))).toEqual([0]);
  });

  it('uses the polygon over the radius when a record has both', () => {
    const index = newIndex();
    const area = squareArea(offset(0, 20), 3);
    index.upsert(dcRecord({ radiusKm: 5, area }));
    expect(served(index, CENTRE)).toEqual([]);
    // 20 km at 20 km/h after 8 min prep: 68 minutes.
    expect(served(index, offset(0, 20), 68.1)).toEqual([0]);
    expect(served(index, offset(0, 20), 60)).toEqual([]);
  });

  it('owns a copy of a polygon: changing the record later does not move the area', () => {
    const index = newIndex();
    const area = squareArea(CENTRE, 2);
    index.upsert(dcRecord({ radiusKm: null, area }));
    for (const position of area.coordinates[0]) position[0] += 1;
    expect(served(index, CENTRE)).toEqual([0]);
  });
});

describe('DeliveryAreaIndex ETA and order', () => {
  it('computes ETA = prep + distance / speed × 60 with the great-circle distance', () => {
    const index = newIndex();
    index.upsert(dcRecord({ radiusKm: 10, speedKmh: 15, prepMinutes: 6 }));
    const at = offset(3, 4);
    const out = new DcHits(4);
    expect(index.resolve(at.lat, at.lng, 60, out)).toBe(1);
    const distanceKm = haversineKm(CENTRE.lat, CENTRE.lng, at.lat, at.lng);
    expect(distanceKm).toBeCloseTo(5, 2);
    expect(out.distanceKm[0]).toBe(distanceKm);
    expect(out.etaMinutes[0]).toBe(6 + (distanceKm / 15) * 60);
    expect(out.etaMinutes[0]).toBeCloseTo(26, 1);
  });

  it('sorts by ETA, then distance, then DC index', () => {
    const index = newIndex();
    const at = offset(0, 0);
    const near = (overrides: Partial<DcRecord>) => dcRecord({ radiusKm: 10, ...overrides });
    // 2 km at 10 km/h with 2 min prep: 14 min. 6 km at 60 km/h with 4 min prep: 10 min.
    index.upsert(near({ index: 3, location: offset(2, 0), speedKmh: 10, prepMinutes: 2 }));
    index.upsert(near({ index: 1, location: offset(-6, 0), speedKmh: 60, prepMinutes: 4 }));
    // At 1e20 km/h the travel time is below half an ulp of 12, so these ETAs are exactly 12:
    // DCs 5 and 7 also tie on distance (index decides); DC 2 is farther, so it comes after.
    const instant = 1e20;
    index.upsert(near({ index: 7, location: offset(0, 1), speedKmh: instant, prepMinutes: 12 }));
    index.upsert(near({ index: 5, location: offset(0, 1), speedKmh: instant, prepMinutes: 12 }));
    index.upsert(near({ index: 2, location: offset(0, -3), speedKmh: instant, prepMinutes: 12 }));
    const out = new DcHits();
    expect(index.resolve(at.lat, at.lng, 60, out)).toBe(5);
    expect(Array.from(out.dcs.subarray(0, 5))).toEqual([1, 5, 7, 2, 3]);
    expect(out.etaMinutes[0]).toBeCloseTo(10, 1);
    expect(Array.from(out.etaMinutes.subarray(1, 4))).toEqual([12, 12, 12]);
    expect(out.distanceKm[1]).toBe(out.distanceKm[2]);
    expect(out.distanceKm[3]).toBeGreaterThan(out.distanceKm[2]);
    expect(out.etaMinutes[4]).toBeCloseTo(14, 1);
    expect(served(index, at)).toEqual([1, 5, 7, 2, 3]);
  });

  it('cuts at the maxMinutes window, inclusive', () => {
    const index = newIndex();
    for (let i = 0; i < 4; i++) {
      // DC i is i + 1 km south at 60 km/h with no prep: ETA i + 1 minutes.
      index.upsert(
        dcRecord({ index: i, location: offset(-(i + 1), 0), speedKmh: 60, prepMinutes: 0 }),
      );
    }
    const out = new DcHits();
    expect(index.resolve(CENTRE.lat, CENTRE.lng, 60, out)).toBe(4);
    const etaThird = out.etaMinutes[2];
    expect(served(index, CENTRE, etaThird)).toEqual([0, 1, 2]);
    expect(served(index, CENTRE, etaThird - 1e-9)).toEqual([0, 1]);
    expect(served(index, CENTRE, 0.5)).toEqual([]);
    expect(served(index, CENTRE, Number.NaN)).toEqual([]);
    expect(served(index, CENTRE, Number.POSITIVE_INFINITY)).toEqual([0, 1, 2, 3]);
  });

  it('overwrites the whole answer: a shorter result leaves a shorter count', () => {
    const index = newIndex();
    index.upsert(dcRecord({ index: 0, radiusKm: 10 }));
    index.upsert(dcRecord({ index: 1, radiusKm: 2 }));
    const out = new DcHits();
    expect(index.resolve(CENTRE.lat, CENTRE.lng, 60, out)).toBe(2);
    const far = offset(5, 0);
    expect(index.resolve(far.lat, far.lng, 60, out)).toBe(1);
    expect(out.count).toBe(1);
    expect(out.dcs[0]).toBe(0);
  });
});

describe('DeliveryAreaIndex upserts', () => {
  it('skips a deactivated DC and serves it again once reactivated', () => {
    const index = newIndex();
    index.upsert(dcRecord({ index: 0 }));
    index.upsert(dcRecord({ index: 1, location: offset(1, 0) }));
    expect(served(index, CENTRE)).toEqual([0, 1]);
    const version = index.version;
    expect(index.upsert(dcRecord({ index: 0, active: false }))).toBeNull();
    expect(index.version).toBe(version + 1);
    expect(index.has(0)).toBe(true);
    expect(served(index, CENTRE)).toEqual([1]);
    index.upsert(dcRecord({ index: 0, active: true }));
    expect(served(index, CENTRE)).toEqual([0, 1]);
    index.verify();
  });

  it('moves a DC: the old area no longer serves, the new one does', () => {
    const index = newIndex();
    const far = offset(40, 40);
    index.upsert(dcRecord({ index: 2, radiusKm: 3 }));
    expect(served(index, CENTRE)).toEqual([2]);
    expect(served(index, far, 1_000)).toEqual([]);
    index.upsert(dcRecord({ index: 2, radiusKm: 3, location: far }));
    expect(served(index, CENTRE, 1_000)).toEqual([]);
    expect(served(index, far)).toEqual([2]);
    index.verify();
    // A move from a radius to a polygon area elsewhere replaces the box again.
    index.upsert(dcRecord({ index: 2, radiusKm: null, area: squareArea(offset(-30, 0), 2) }));
    expect(served(index, far, 1_000)).toEqual([]);
    expect(served(index, offset(-30, 0), 1_000)).toEqual([2]);
    index.verify();
  });

  it('never answers from a cache entry older than the last upsert', () => {
    const index = newIndex(4, 1);
    const out = new DcHits();
    index.upsert(dcRecord({ index: 0, radiusKm: 5, prepMinutes: 8 }));
    index.resolve(CENTRE.lat, CENTRE.lng, 60, out);
    index.resolve(CENTRE.lat, CENTRE.lng, 60, out);
    expect(index.cacheMisses).toBe(1);
    expect(index.cacheHits).toBe(1);
    expect(out.etaMinutes[0]).toBe(8);
    index.upsert(dcRecord({ index: 0, radiusKm: 5, prepMinutes: 12 }));
    index.resolve(CENTRE.lat, CENTRE.lng, 60, out);
    expect(index.cacheMisses).toBe(2);
    expect(out.etaMinutes[0]).toBe(12);
    index.upsert(dcRecord({ index: 1, radiusKm: 5, prepMinutes: 1 }));
    index.resolve(CENTRE.lat, CENTRE.lng, 60, out);
    expect(Array.from(out.dcs.subarray(0, out.count))).toEqual([1, 0]);
  });

  it('spreads nearby locations over the cache: a second pass over 1,000 mostly hits', () => {
    const index = newIndex(4, 4096);
    index.upsert(dcRecord({ radiusKm: 20 }));
    const out = new DcHits();
    // A 40 × 25 grid with 100 m steps: neighbours differ only in low mantissa bits.
    const pass = () => {
      for (let i = 0; i < 1_000; i++) {
        const at = offset(0.1 * (i % 40), 0.1 * Math.floor(i / 40));
        index.resolve(at.lat, at.lng, 60, out);
      }
    };
    pass();
    const hitsBefore = index.cacheHits;
    pass();
    // With a uniform hash, 1 - e^(-999/4096) ≈ 22% of 1,000 keys share a direct-mapped slot
    // with another key and miss again; a hash that ignored low mantissa bits would miss most.
    expect(index.cacheHits - hitsBefore).toBeGreaterThan(740);
  });

  it('refuses bad areas, locations and travel models, and changes nothing', () => {
    const index = newIndex();
    index.upsert(dcRecord({ index: 0, radiusKm: 5 }));
    const version = index.version;
    const open = squareArea(CENTRE, 2);
    open.coordinates[0].pop();
    const refused: [Partial<DcRecord>, string][] = [
      [{ radiusKm: null, area: null }, 'BAD_AREA'],
      [{ radiusKm: 0 }, 'BAD_AREA'],
      [{ radiusKm: -1 }, 'BAD_AREA'],
      [{ radiusKm: Number.NaN }, 'BAD_AREA'],
      [{ radiusKm: RADIUS_KM_MAX + 1 }, 'BAD_AREA'],
      [{ area: open }, 'BAD_AREA'],
      [{ area: { type: 'Polygon', coordinates: [] } }, 'BAD_AREA'],
      // A circle that would cross the antimeridian cannot be drawn in plain lng/lat.
      [{ location: { lat: 0, lng: 179.99 }, radiusKm: 10 }, 'BAD_AREA'],
      [{ location: { lat: 91, lng: 0 } }, 'BAD_LOCATION'],
      [{ location: { lat: 0, lng: Number.NaN } }, 'BAD_LOCATION'],
      [{ speedKmh: 0 }, 'BAD_FIELD'],
      [{ speedKmh: Number.POSITIVE_INFINITY }, 'BAD_FIELD'],
      [{ prepMinutes: -1 }, 'BAD_FIELD'],
      [{ prepMinutes: Number.NaN }, 'BAD_FIELD'],
    ];
    for (const [overrides, code] of refused) {
      const record = dcRecord({ index: 0, location: offset(30, 0), ...overrides });
      expect(checkDcRecord(record), JSON.stringify(overrides)).toBe(code);
      expect(index.upsert(record), JSON.stringify(overrides)).toBe(code);
    }
    expect(index.version).toBe(version);
    expect(served(index, CENTRE)).toEqual([0]);
    expect(checkDcRecord(dcRecord({ radiusKm: null, area: squareArea(CENTRE, 2) }))).toBeNull();
    expect(checkDcRecord(dcRecord({ location: { lat: 0, lng: 179.8 }, radiusKm: 10 }))).toBeNull();
    index.verify();
  });

  it('asserts on a DC index outside the capacity and on a bad location', () => {
    const index = newIndex(4);
    expect(() => index.upsert(dcRecord({ index: 4 }))).toThrow(/index 4/);
    expect(() => index.upsert(dcRecord({ index: -1 }))).toThrow();
    expect(() => index.resolve(Number.NaN, 0, 60, new DcHits())).toThrow(/out of range/);
    expect(() => index.resolveUncached(0, 181, 60, new DcHits())).toThrow(/out of range/);
  });

  it('asserts on bad options', () => {
    expect(() => new DeliveryAreaIndex({ dcCapacity: 4, cacheSize: 3 })).toThrow(/power of two/);
    expect(() => new DeliveryAreaIndex({ dcCapacity: 0, cacheSize: 4 })).toThrow(/dcCapacity/);
    expect(() => new DeliveryAreaIndex({ dcCapacity: 4, cacheSize: 0 })).toThrow(/cacheSize/);
    expect(() => new DcHits(0)).toThrow(/capacity/);
  });
});

describe('DeliveryAreaIndex truncation at DC_HITS_MAX', () => {
  /** 100 DCs on a line going east, DC i at 0.1 × (i + 1) km, all with areas covering CENTRE. */
  function crowded(): DeliveryAreaIndex {
    const index = newIndex(128, 16);
    // Insert in a scrambled order so the R-tree's order cannot stand in for the sort.
    for (let k = 0; k < 100; k++) {
      const i = (k * 37) % 100;
      index.upsert(dcRecord({ index: i, location: offset(0, 0.1 * (i + 1)), radiusKm: 20 }));
    }
    return index;
  }

  it('keeps the DC_HITS_MAX nearest of a location served by more', () => {
    const index = crowded();
    expect(served(index, CENTRE, 1_000)).toEqual(Array.from({ length: DC_HITS_MAX }, (_, i) => i));
  });

  it('keeps the nearest within the window when the window is narrower', () => {
    const index = crowded();
    // DC i is 0.1 × (i + 1) km away at 20 km/h after 8 min: ETA 8 + 0.3 × (i + 1) minutes.
    expect(served(index, CENTRE, 8 + 0.3 * 10 + 0.01)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('does not spend the limit on deactivated DCs', () => {
    const index = crowded();
    for (let i = 0; i < 10; i++) {
      index.upsert(
        dcRecord({ index: i, location: offset(0, 0.1 * (i + 1)), radiusKm: 20, active: false }),
      );
    }
    expect(served(index, CENTRE, 1_000)).toEqual(
      Array.from({ length: DC_HITS_MAX }, (_, i) => i + 10),
    );
  });

  it('fills a smaller out-parameter with the nearest DCs', () => {
    const index = crowded();
    const out = new DcHits(5);
    expect(index.resolve(CENTRE.lat, CENTRE.lng, 1_000, out)).toBe(5);
    expect(Array.from(out.dcs)).toEqual([0, 1, 2, 3, 4]);
    expect(index.resolveUncached(CENTRE.lat, CENTRE.lng, 1_000, out)).toBe(5);
    expect(Array.from(out.dcs)).toEqual([0, 1, 2, 3, 4]);
  });
});
