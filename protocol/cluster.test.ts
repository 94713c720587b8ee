import { describe, expect, it } from 'vitest';
import {
  boundsOf,
  distanceKm,
  isRegionId,
  logStreamName,
  logSubject,
  type RegionDc,
  type RegionDefinition,
  regionForLocation,
} from './cluster.js';

function region(id: string, dcs: RegionDc[]): RegionDefinition {
  return { id, name: id, dcs, bounds: boundsOf(dcs), updatedAt: 0 };
}

const KORAMANGALA = { lat: 12.9352, lng: 77.6245 };
const MANHATTAN = { lat: 40.7549, lng: -73.984 };
const bengaluru = region('bengaluru', [{ id: 'blr-1', ...KORAMANGALA, reachKm: 5 }]);
const newYork = region('new-york', [{ id: 'nyc-1', ...MANHATTAN, reachKm: 4 }]);

describe('regionForLocation', () => {
  it('routes a location to the region whose DC reaches it', () => {
    expect(regionForLocation([bengaluru, newYork], { lat: 12.94, lng: 77.63 })).toBe('bengaluru');
    expect(regionForLocation([bengaluru, newYork], { lat: 40.76, lng: -73.98 })).toBe('new-york');
  });

  it('at a border both regions reach, picks the nearest DC, then the smaller id', () => {
    const west = region('west', [{ id: 'w', lat: 12.93, lng: 77.6, reachKm: 10 }]);
    const east = region('east', [{ id: 'e', lat: 12.93, lng: 77.7, reachKm: 10 }]);
    expect(regionForLocation([west, east], { lat: 12.93, lng: 77.62 })).toBe('west');
    expect(regionForLocation([west, east], { lat: 12.93, lng: 77.68 })).toBe('east');
    const twin = region('alpha', [{ id: 'a', lat: 12.93, lng: 77.7, reachKm: 10 }]);
    expect(regionForLocation([east, twin], { lat: 12.93, lng: 77.69 })).toBe('alpha');
  });

  it('sends a location no DC reaches to the region of the nearest DC', () => {
    expect(regionForLocation([bengaluru, newYork], { lat: 13.5, lng: 78.5 })).toBe('bengaluru');
    expect(regionForLocation([bengaluru, newYork], { lat: 51.5, lng: -0.12 })).toBe('new-york');
  });

  it('answers null with no regions, and skips a region without DCs', () => {
    expect(regionForLocation([], KORAMANGALA)).toBeNull();
    expect(regionForLocation([region('empty', [])], KORAMANGALA)).toBeNull();
  });

  it('keeps each reach circle inside the region bounds', () => {
    const { south, north, west, east } = bengaluru.bounds;
    expect(distanceKm(KORAMANGALA, { lat: north, lng: KORAMANGALA.lng })).toBeGreaterThanOrEqual(5);
    expect(distanceKm(KORAMANGALA, { lat: south, lng: KORAMANGALA.lng })).toBeGreaterThanOrEqual(5);
    expect(distanceKm(KORAMANGALA, { lat: KORAMANGALA.lat, lng: east })).toBeGreaterThanOrEqual(5);
    expect(distanceKm(KORAMANGALA, { lat: KORAMANGALA.lat, lng: west })).toBeGreaterThanOrEqual(5);
  });
});

describe('names', () => {
  it('derives subjects and stream names from region ids', () => {
    expect(logSubject('new-york')).toBe('inventory.log.new-york');
    expect(logStreamName('new-york')).toBe('INVENTORY_NEW_YORK');
    expect(isRegionId('bengaluru')).toBe(true);
    for (const bad of ['', 'New-York', 'a.b', 'a b', '1abc', 'x'.repeat(40), 42]) {
      expect(isRegionId(bad), String(bad)).toBe(false);
    }
  });
});
