import { describe, expect, it } from 'vitest';
import { PREP_MINUTES_DEFAULT, SPEED_KMH_DEFAULT } from '../../engine/constants.js';
import { EARTH_RADIUS_KM, haversineKm } from '../../engine/geo/index.js';
import { describeSeed, seedFromEnv } from '../../engine/testing/index.js';
import type { UpsertDcArgs } from '../../protocol/client/index.js';
import { buildDataset } from '../workload.js';
import { answerDifferences, onAreaEdge } from './availability.js';
import {
  AVAILABILITY_WINDOW_MINUTES,
  buildCompareDataset,
  comparableDc,
  edgeEtaMinutes,
  meanReachKm,
  searchRadiusKm,
} from './dataset.js';
import { redisAnswer } from './redis-system.js';
import type { SkuAnswer } from './systems.js';

const seed = seedFromEnv(20_241_121);
const because = describeSeed(seed);
const OPTIONS = { seed, dcs: 20, skus: 50, stockPerCell: 1_000 };
/** Kilometres per degree of latitude on the engine's sphere. */
const KM_PER_DEGREE = (EARTH_RADIUS_KM * Math.PI) / 180;

describe('the comparison dataset', () => {
  it('gives every DC a circle and one travel model, polygons their mean reach', () => {
    const base = buildDataset(OPTIONS);
    const dataset = buildCompareDataset(OPTIONS);
    expect(
      base.dcs.some((dc) => dc.area !== undefined),
      because,
    ).toBe(true);
    expect(dataset.dcs).toHaveLength(base.dcs.length);
    for (let index = 0; index < base.dcs.length; index++) {
      const before = base.dcs[index];
      const after = dataset.dcs[index];
      expect(after.area, because).toBeUndefined();
      expect(after.location).toEqual(before.location);
      expect([after.speedKmh, after.prepMinutes]).toEqual([
        SPEED_KMH_DEFAULT,
        PREP_MINUTES_DEFAULT,
      ]);
      if (before.area === undefined) expect(after.radiusKm).toBe(before.radiusKm);
      else expect(after.radiusKm).toBe(meanReachKm(before));
      expect(edgeEtaMinutes(after)).toBeLessThanOrEqual(AVAILABILITY_WINDOW_MINUTES);
    }
    expect(searchRadiusKm(dataset)).toBe(Math.max(...dataset.dcs.map((dc) => dc.radiusKm!)));
  });

  it('takes a polygon mean reach from its vertices, counting the closing vertex once', () => {
    const centre = { lat: 40.7, lng: -74 };
    const dLat = 2 / KM_PER_DEGREE;
    const square: UpsertDcArgs = {
      id: 'square',
      name: 'square',
      location: centre,
      area: {
        type: 'Polygon',
        coordinates: [
          [
            [centre.lng, centre.lat + dLat],
            [centre.lng, centre.lat - dLat],
            [centre.lng, centre.lat + 2 * dLat],
            [centre.lng, centre.lat + dLat],
          ],
        ],
      },
    };
    // Vertices 2, 2 and 4 km away: the mean is 2.67 km, rounded to 2.7.
    expect(meanReachKm(square)).toBeCloseTo(2.7, 9);
    expect(comparableDc(square)).toMatchObject({ radiusKm: 2.7, location: centre });
    expect(() => comparableDc({ id: 'x', name: 'x', location: centre })).toThrow(/neither/);
  });
});

describe('availability answers', () => {
  it('reads a Redis reply as per-SKU totals and per-DC units, leaving out empty DCs', () => {
    const answers = redisAnswer(2, [
      [7, 0],
      ['dc-a', 'dc-b'],
      [5, 0, 2, 0],
    ]);
    expect(answers).toEqual([
      { total: 7, dcs: { 'dc-a': 5, 'dc-b': 2 } },
      { total: 0, dcs: {} },
    ]);
  });

  it('lists differences by SKU, totals and the DCs whose units differ', () => {
    const skus = ['s1', 's2', 's3'];
    const a: SkuAnswer[] = [
      { total: 3, dcs: { x: 3 } },
      { total: 5, dcs: { x: 2, y: 3 } },
      { total: 1, dcs: { x: 1 } },
    ];
    const b: SkuAnswer[] = [
      { total: 3, dcs: { x: 3 } },
      { total: 2, dcs: { x: 2 } },
      { total: 1, dcs: { y: 1 } },
    ];
    expect(answerDifferences(skus, a, a)).toEqual([]);
    expect(answerDifferences(skus, a, b)).toEqual([
      { sku: 's2', totals: [5, 2], dcs: [{ dc: 'y', units: [3, 0] }] },
      {
        sku: 's3',
        totals: [1, 1],
        dcs: [
          { dc: 'x', units: [1, 0] },
          { dc: 'y', units: [0, 1] },
        ],
      },
    ]);
    expect(answerDifferences(['s1'], [], [{ total: 0, dcs: {} }])).toHaveLength(1);
  });

  it('calls a customer on an area edge only inside the band the inscribed polygon leaves', () => {
    const dataset = buildCompareDataset(OPTIONS);
    const dc = dataset.dcs[0];
    const radiusKm = dc.radiusKm!;
    const at = (km: number) => {
      const lat = dc.location.lat + km / KM_PER_DEGREE;
      expect(haversineKm(dc.location.lat, dc.location.lng, lat, dc.location.lng)).toBeCloseTo(
        km,
        6,
      );
      return { lat, lng: dc.location.lng, skus: [] };
    };
    expect(onAreaEdge(dataset, dc.id, at(radiusKm * 0.9995))).toBe(true);
    expect(onAreaEdge(dataset, dc.id, at(radiusKm * 0.99))).toBe(false);
    expect(onAreaEdge(dataset, dc.id, at(radiusKm * 1.01))).toBe(false);
    expect(onAreaEdge(dataset, 'no-such-dc', at(radiusKm))).toBe(false);
  });
});
