import { describe, expect, it } from 'vitest';
import { AREA_VERTICES_MAX } from '../constants.js';
import { validateArea } from './validate-area.js';

const square = [
  [77.5, 12.9],
  [77.6, 12.9],
  [77.6, 13.0],
  [77.5, 13.0],
  [77.5, 12.9],
];
const hole = [
  [77.52, 12.92],
  [77.54, 12.92],
  [77.54, 12.94],
  [77.52, 12.92],
];

/** A closed ring of `count` positions (count - 1 distinct points on a small circle). */
function ring(count: number): number[][] {
  const positions: number[][] = [];
  for (let i = 0; i < count - 1; i++) {
    const angle = (2 * Math.PI * i) / (count - 1);
    positions.push([77.6 + 0.1 * Math.cos(angle), 12.9 + 0.1 * Math.sin(angle)]);
  }
  positions.push([...positions[0]]);
  return positions;
}

describe('validateArea accepts', () => {
  it('a closed polygon, with or without holes and altitudes', () => {
    expect(validateArea({ type: 'Polygon', coordinates: [square] })).toBe(true);
    expect(validateArea({ type: 'Polygon', coordinates: [square, hole] })).toBe(true);
    const withAltitude = square.map(([lng, lat]) => [lng, lat, 920]);
    expect(validateArea({ type: 'Polygon', coordinates: [withAltitude] })).toBe(true);
  });

  it('the extreme coordinates and exactly AREA_VERTICES_MAX vertices', () => {
    const world = [
      [-180, -90],
      [180, -90],
      [180, 90],
      [-180, 90],
      [-180, -90],
    ];
    expect(validateArea({ type: 'Polygon', coordinates: [world] })).toBe(true);
    expect(validateArea({ type: 'Polygon', coordinates: [ring(AREA_VERTICES_MAX)] })).toBe(true);
  });
});

describe('validateArea refuses', () => {
  it('values that are not a Polygon object', () => {
    for (const value of [null, undefined, 0, 'Polygon', [], [square]]) {
      expect(validateArea(value)).toBe(false);
    }
    expect(validateArea({ type: 'MultiPolygon', coordinates: [[square]] })).toBe(false);
    expect(validateArea({ type: 'polygon', coordinates: [square] })).toBe(false);
    expect(validateArea({ type: 'Point', coordinates: [77.5, 12.9] })).toBe(false);
    expect(validateArea({ coordinates: [square] })).toBe(false);
    expect(validateArea({ type: 'Polygon' })).toBe(false);
    expect(validateArea({ type: 'Polygon', coordinates: {} })).toBe(false);
  });

  it('a polygon without rings, or a ring that is not an array', () => {
    expect(validateArea({ type: 'Polygon', coordinates: [] })).toBe(false);
    expect(validateArea({ type: 'Polygon', coordinates: [square, 'hole'] })).toBe(false);
  });

  it('a ring of fewer than 4 positions', () => {
    const triangleOpen = [square[0], square[1], square[0]];
    expect(validateArea({ type: 'Polygon', coordinates: [triangleOpen] })).toBe(false);
    expect(validateArea({ type: 'Polygon', coordinates: [[]] })).toBe(false);
    expect(validateArea({ type: 'Polygon', coordinates: [square, hole.slice(1)] })).toBe(false);
  });

  it('an unclosed ring', () => {
    const open = square.slice(0, 4).concat([[77.5, 12.95]]);
    expect(validateArea({ type: 'Polygon', coordinates: [open] })).toBe(false);
    const openHole = [...hole.slice(0, 3), [77.52, 12.93]];
    expect(validateArea({ type: 'Polygon', coordinates: [square, openHole] })).toBe(false);
  });

  it('NaN, infinite, non-numeric or out-of-range coordinates', () => {
    const bad: unknown[] = [
      [Number.NaN, 12.95],
      [77.55, Number.NaN],
      [Number.POSITIVE_INFINITY, 12.95],
      [77.55, Number.NEGATIVE_INFINITY],
      ['77.55', 12.95],
      [77.55, null],
      [180.000001, 12.95],
      [-180.5, 12.95],
      [77.55, 90.5],
      [77.55, -91],
      [77.55],
      [77.55, 12.95, 0, 0],
      [77.55, 12.95, Number.NaN],
      { lng: 77.55, lat: 12.95 },
      null,
    ];
    for (const position of bad) {
      const coordinates = [[square[0], square[1], position, square[3], square[0]]];
      expect(validateArea({ type: 'Polygon', coordinates }), JSON.stringify(position)).toBe(false);
    }
    const nanClosing = [[Number.NaN, 12.9], ...square.slice(1, 4), [Number.NaN, 12.9]];
    expect(validateArea({ type: 'Polygon', coordinates: [nanClosing] })).toBe(false);
  });

  it('a sparse ring', () => {
    const sparse = [...square];
    delete sparse[2];
    expect(validateArea({ type: 'Polygon', coordinates: [sparse] })).toBe(false);
  });

  it('more than AREA_VERTICES_MAX vertices, in one ring or over all rings', () => {
    expect(validateArea({ type: 'Polygon', coordinates: [ring(AREA_VERTICES_MAX + 1)] })).toBe(
      false,
    );
    const half = ring(AREA_VERTICES_MAX / 2);
    expect(validateArea({ type: 'Polygon', coordinates: [half, half] })).toBe(true);
    expect(validateArea({ type: 'Polygon', coordinates: [half, half, hole] })).toBe(false);
    expect(validateArea({ type: 'Polygon', coordinates: [ring(100_000)] })).toBe(false);
  });
});
