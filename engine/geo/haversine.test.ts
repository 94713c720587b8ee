import { distance } from '@turf/turf';
import { describe, expect, it } from 'vitest';
import { EARTH_RADIUS_KM, haversineKm } from './haversine.js';
import { seededRandom } from './synthetic-network.js';

describe('haversineKm', () => {
  it('is zero between a point and itself', () => {
    expect(haversineKm(12.97, 77.59, 12.97, 77.59)).toBe(0);
  });

  it('measures one degree of latitude as R × π / 180', () => {
    expect(haversineKm(10, 20, 11, 20)).toBeCloseTo((EARTH_RADIUS_KM * Math.PI) / 180, 9);
  });

  it('measures antipodes as half the circumference', () => {
    expect(haversineKm(0, 0, 0, 180)).toBeCloseTo(EARTH_RADIUS_KM * Math.PI, 6);
    expect(haversineKm(90, 0, -90, 0)).toBeCloseTo(EARTH_RADIUS_KM * Math.PI, 6);
  });

  it('agrees with turf.distance and is symmetric', () => {
    const seed = process.env.SEED ? Number(process.env.SEED) : 1;
    const random = seededRandom(seed);
    for (let i = 0; i < 1_000; i++) {
      const lat1 = random() * 180 - 90;
      const lng1 = random() * 360 - 180;
      // Half of the pairs are metro-scale, where the index actually works.
      const near = i % 2 === 0;
      const lat2 = near ? Math.max(-90, Math.min(90, lat1 + random() * 0.5)) : random() * 180 - 90;
      const lng2 = near ? Math.min(180, lng1 + random() * 0.5) : random() * 360 - 180;
      const ours = haversineKm(lat1, lng1, lat2, lng2);
      const theirs = distance([lng1, lat1], [lng2, lat2], { units: 'kilometers' });
      expect(Math.abs(ours - theirs), `seed ${seed}, pair ${i}`).toBeLessThan(
        1e-9 + theirs * 1e-12,
      );
      expect(haversineKm(lat2, lng2, lat1, lng1)).toBeCloseTo(ours, 9);
    }
  });
});
